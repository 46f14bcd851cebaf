#!/usr/bin/env node
// The qiusuo command. The TypeScript sources are compiled to dist/ by `npm install` (the prepare script).
import { main } from '../dist/cli/main.js';

main(process.argv).then((code) => { process.exitCode = code; });
