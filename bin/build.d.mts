/** The repository root. */
export declare const ROOT: string;
/** Where builds go. */
export declare const DIST: string;
/** The manifest of the current build. */
export declare const MANIFEST: string;
/** Builds the command; returns the path of its entry module. */
export declare function build(): Promise<string>;
/** The entry module of the current build, or undefined when there is none or a source changed since. */
export declare function currentBuild(): string | undefined;
