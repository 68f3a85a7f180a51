/**
 * What every benchmark returns. bench/run.ts prints it as a readable table, or with
 * --json as one JSON object per line.
 *
 * `figures` are measured by this run. Figures of other systems (gobearmon's design, a
 * target from an issue) never go there: they go to `quoted`, printed apart and marked as
 * quoted, so a reader cannot take them for measurements.
 */
export interface BenchFigure {
  label: string;
  value: number;
  unit: string;
  /** Human form of the target, e.g. "≥ 0.7". */
  target?: string;
  /** Set only when the figure has a target. */
  pass?: boolean;
  /** How many samples a distribution figure (percentile, max) was taken over. */
  n?: number;
}

/** A figure this run did not measure: someone else's number, with where it comes from. */
export interface QuotedFigure {
  label: string;
  value: number;
  unit: string;
  source: string;
}

export interface BenchReport {
  name: string;
  /** How the figures were obtained, in a sentence or two (sizes, what is timed). */
  method?: string;
  figures: BenchFigure[];
  quoted?: QuotedFigure[];
}
