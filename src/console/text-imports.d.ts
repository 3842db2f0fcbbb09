// Files imported `with { type: 'text' }` are strings (esbuild plugin in scripts/bundle.mjs; Bun natively).
declare module '*.css' {
  const text: string;
  export default text;
}
declare module '*/console.js' {
  const text: string;
  export default text;
}
declare module '*/prom.js' {
  const text: string;
  export default text;
}
declare module 'uplot/dist/uPlot.iife.min.js' {
  const text: string;
  export default text;
}
