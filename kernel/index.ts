/**
 * mmulab's Jupyter kernel and notebook runner. Notebooks use the display helpers (in scope in
 * every cell); tools use the runtime, the runner and the report.
 */
export * from './display';
export { Runtime, languageInfo, kernelspecMetadata, KERNEL_NAME, DISPLAY_NAME, type Outcome, type CellError, type ExecuteContext, type RuntimeOptions } from './runtime';
export { runNotebook, injectParameters, parameterDecls, CellExecutionError, ParameterError, RunInterrupted, type RunOptions, type RunResult } from './runner';
export { readNotebook, parseNotebook, serializeNotebook, writeFileAtomic, NotebookFormatError, type Notebook, type Cell, type Output } from './notebook';
export { notebookDiff } from './diff';
export { writeReport, renderNotebookPage } from './report';
export { installKernelSpec, kernelSpec, userDataDir } from './install';
