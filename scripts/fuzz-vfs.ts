// Long runs of the vfs randomized tests: random layer stacks of the merge against the
// apply-in-order model, and random hostile trees for the extractor (nothing written outside
// DEST, every run ends). The default suite runs a few hundred; this runs many more.
//   node --import tsx scripts/fuzz-vfs.ts [STACKS] [TREES]
process.env.OCIFS_VFS_FUZZ_STACKS = process.argv[2] ?? '20000';
process.env.OCIFS_VFS_FUZZ_TREES = process.argv[3] ?? '2000';
await import('../test/unit/vfs-merge.test.js');
await import('../test/unit/extract.test.js');
