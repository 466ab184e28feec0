#!/usr/bin/env node
import '../dist/secsess.js';
