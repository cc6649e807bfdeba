/** One function in a CPU profile: shared by the profile command and its per-runtime readers. */
export interface ProfileEntry {
  fn: string;
  where: string;
  selfMs: number;
  percent: number;
}
