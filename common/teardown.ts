// An undo stack for daemons: each setup step registers how to undo itself, and run() undoes
// them newest first, once, even when some steps fail (a failure is reported, never thrown).
// Holds no resources of its own; never reorders or skips a registered step.

export type UndoStep = () => void | Promise<void>;

export class Teardown {
  private readonly steps: UndoStep[] = [];
  private running: Promise<void> | null = null;

  constructor(private readonly report: (message: string) => void) {}

  /** Registers the undo of a step that just succeeded. */
  push(step: UndoStep): void {
    this.steps.push(step);
  }

  /** Undoes every registered step, newest first; later calls return the same promise. */
  run(): Promise<void> {
    this.running ??= (async () => {
      while (this.steps.length > 0) {
        const step = this.steps.pop()!;
        try {
          await step();
        } catch (e) {
          this.report(`shutdown step failed: ${(e as Error).message}`);
        }
      }
    })();
    return this.running;
  }
}
