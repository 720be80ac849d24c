// The reconciler as a module: what the stack start-up, the test harness and other tools import.
//
//   const desired = loadSpecFile();                  // throws SpecError listing every problem
//   const nc = await connectTo(url);                 // UnreachableError, CredentialsError
//   const p = await plan(nc, desired, { prune });    // reads only
//   console.log(renderPlan(p));
//   await apply(nc, p, { allowDestructive });        // DestructiveChangeError, ApiError, ...
export { type ApplyOptions, type ApplyResult, apply, applyStreamsFile, reconcile } from "./apply.ts";
export {
  ApiError,
  CredentialsError,
  DestructiveChangeError,
  JetStreamDisabledError,
  PermissionDeniedError,
  PlanError,
  UnreachableError,
} from "./errors.ts";
export { type Change, hasChanges, type Plan, type PlanOptions, plan } from "./plan.ts";
export { planJson, renderPlan } from "./render.ts";
export { connectTo } from "./server.ts";
export {
  type DesiredState,
  defaultSpecFile,
  loadSpecFile,
  managedKey,
  managedValue,
  parseSpec,
  SpecError,
} from "./spec.ts";
