#!/usr/bin/env node
// npm's entry point for the dsmip6 command: the compiled CLI.
import '../dist/cli/main.js';
