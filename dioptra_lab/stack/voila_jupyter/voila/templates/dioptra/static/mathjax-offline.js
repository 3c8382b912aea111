// The dashboards render offline: instead of fetching MathJax from a CDN, Voila's MathJax
// loader gets this stand-in, which typesets nothing (formulas stay as written).
window.MathJax = window.MathJax || {
  Hub: { Config() {}, Configured() {}, Queue() {}, Register: { StartupHook() {}, MessageHook() {} } },
};
