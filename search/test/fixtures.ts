// The search tests' synthetic models live in the package (search/src/testing.ts), shared with bench/.
export * from '../src/testing.ts';
