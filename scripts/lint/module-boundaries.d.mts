// Types of the module-boundaries ESLint rule (module-boundaries.mjs) for its test.
import type { Rule } from 'eslint';

export declare const moduleBoundaries: Rule.RuleModule;
declare const plugin: { rules: { 'module-boundaries': Rule.RuleModule } };
export default plugin;
