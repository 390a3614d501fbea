/**
 * What holds something on an etcd lease (the renewer's campaign, the store's registration) does
 * when etcd lets it go: try again every second, and say so once per outage, not every second.
 */
export class RetryEverySecond {
  private timer: NodeJS.Timeout | undefined;
  private said = false;
  private closed = false;

  constructor(private readonly log: (line: string) => void) {}

  /** It failed: say `line` (once until it works again), then run `again` in a second. */
  failed(line: string, again: () => void, sayAnyway = false): void {
    if (this.closed) return;
    if (sayAnyway || !this.said) this.log(line);
    this.said = true;
    this.timer = setTimeout(again, 1_000);
    this.timer.unref();
  }

  /** It works again: the next failure is said. */
  worked(): void {
    this.said = false;
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
