/** One measured figure; `pass` is set only when the figure has a target. */
export interface BenchFigure {
  label: string;
  value: number;
  unit: string;
  /** Human form of the target, e.g. "≥ 0.7". */
  target?: string;
  pass?: boolean;
}

/** What every benchmark returns: bench/run.ts prints it as a table and as one JSON line. */
export interface BenchReport {
  name: string;
  figures: BenchFigure[];
}
