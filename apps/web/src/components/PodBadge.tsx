interface Props {
  node: string | undefined;
}

/** For the demo: which pod (server process) this tab's socket is attached to. */
export function PodBadge({ node }: Props) {
  return (
    <p
      className="pod"
      role="note"
      aria-label="Pod"
      title="The server pod this tab's WebSocket is connected to"
    >
      Pod: {node ?? '—'}
    </p>
  );
}
