// Everything the package offers: the client and the JsonLogic evaluator for guards. A page that
// only polls and acts imports ./client.js and saves the evaluator's bytes.
export * from "./client.js";
export { canAct, apply, compileRule, truthy, JsonLogicError } from "./jsonlogic.js";
