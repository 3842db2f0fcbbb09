// Types of html-report.mjs for the TypeScript tests (test/unit/bench-report.test.ts).
export type Report = Record<string, any>;
export function validateReport(doc: unknown, where?: string): Report;
export function readReport(file: string): Report;
export function reportFiles(inputs: string[]): string[];
export function sortReports(docs: Report[]): Report[];
export function full(x: number | null | undefined): string;
export function compact(x: number | null | undefined): string;
export function renderHtml(docs: Report[]): string;
export function buildReport(opts?: { inputs?: string[]; out?: string }): { out: string; files: string[]; docs: Report[] };
