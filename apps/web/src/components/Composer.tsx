import { type FormEvent, type KeyboardEvent, useEffect, useId, useRef, useState } from 'react';

interface Props {
  room: string;
  maxChars: number;
  onSend: (text: string) => void;
}

/**
 * Enter sends, Shift+Enter starts a new line. Sending works offline too: messages are queued.
 * Takes the focus when it appears (after signing in, joining or switching rooms).
 */
export function Composer({ room, maxChars, onSend }: Props) {
  const id = useId();
  const [text, setText] = useState('');
  const input = useRef<HTMLTextAreaElement>(null);
  // Focus again when the room changes.
  useEffect(() => {
    if (room) input.current?.focus();
  }, [room]);
  const tooLong = text.length > maxChars;
  const canSend = text.trim().length > 0 && !tooLong;

  function submit(event?: FormEvent<HTMLFormElement>) {
    event?.preventDefault();
    if (!canSend) return;
    onSend(text);
    setText('');
  }

  function onKeyDown(event: KeyboardEvent<HTMLTextAreaElement>) {
    if (event.key === 'Enter' && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      submit();
    }
  }

  return (
    <form className="composer" onSubmit={submit}>
      <label htmlFor={id} className="visually-hidden">
        Message
      </label>
      <textarea
        ref={input}
        id={id}
        name="message"
        rows={1}
        placeholder={`Message #${room}`}
        value={text}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={onKeyDown}
        aria-invalid={tooLong ? true : undefined}
        aria-describedby={`${id}-count`}
      />
      <button type="submit" disabled={!canSend}>
        Send
      </button>
      <span id={`${id}-count`} className={tooLong ? 'char-count over' : 'char-count'} aria-live="polite">
        {text.length > maxChars * 0.8 ? `${text.length} / ${maxChars}` : ''}
      </span>
    </form>
  );
}
