//go:build !race

package main

// raceDetector says whether the tests run with -race: the runnel processes
// the tests start are this test binary, so they run under it too.
const raceDetector = false
