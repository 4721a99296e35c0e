//go:build race

package gateway

// raceDetector says whether the tests run with -race, which makes stacks
// and heap objects larger.
const raceDetector = true
