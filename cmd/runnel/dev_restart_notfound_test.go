package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestDevNeverSaysTopicNotFoundAfterRestart restarts "runnel dev" (SIGKILL)
// and sends requests about an existing topic from the moment the gateway
// listens: until it has the cluster's metadata each answers 503 unavailable,
// then 200; never 404 topic_not_found.
func TestDevNeverSaysTopicNotFoundAfterRestart(t *testing.T) {
	const topic, restarts = "kept", 3
	dir := t.TempDir()
	dev := startDev(t, dir)
	ctx := context.Background()
	if code, err := dev.do(ctx, "POST", "/v1/topics", map[string]any{"name": topic, "partitions": 24}, nil); err != nil || code != 201 {
		t.Fatalf("create topic: %d %v", code, err)
	}
	for round := range restarts {
		dev.kill()
		dev = launchDev(t, dir)
		statuses := map[string]int{}
		deadline := time.Now().Add(60 * time.Second)
		for {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: no produce succeeded in 60 s; answers %v", round, statuses)
			}
			code, err := dev.do(ctx, "POST", "/v1/topics/"+topic+"/events", map[string]any{"value": round}, nil)
			statuses[fmt.Sprint(code)]++
			if code == 200 {
				break
			}
			if code != 503 || err == nil || !strings.Contains(err.Error(), `"unavailable"`) {
				t.Fatalf("round %d: produce to an existing topic answered %d %v; want 200 or 503 unavailable (answers so far %v)", round, code, err, statuses)
			}
			code, err = dev.do(ctx, "GET", "/v1/topics/"+topic, nil, nil)
			if code != 200 && code != 503 {
				t.Fatalf("round %d: describe of an existing topic answered %d %v", round, code, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Logf("round %d: answers until the first 200: %v", round, statuses)
	}
}
