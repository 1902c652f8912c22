// Teardown that tries every step: each failure is noted with what failed, the
// rest still runs, and one error naming them all comes at the end.
export class Teardown {
  private readonly failures: string[] = [];

  /** Runs fn; a failure is recorded as `what: message` instead of thrown. */
  async attempt(what: string, fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.failures.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** Throws one Error `<subject>: a; b; …` when any step failed. */
  finish(subject: string): void {
    if (this.failures.length > 0) throw new Error(`${subject}: ${this.failures.join('; ')}`);
  }
}
