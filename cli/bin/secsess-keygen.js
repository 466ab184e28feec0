#!/usr/bin/env node
import '../dist/secsess-keygen.js';
