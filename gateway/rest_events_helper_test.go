package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
)

// getEvents reads partition 0 of topic from offset through the gateway at
// baseURL with token tok, and returns the status and the decoded body.
func getEvents(t *testing.T, client *http.Client, baseURL, tok, topic string, offset int64) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/v1/topics/%s/partitions/0/events?offset=%d", baseURL, topic, offset), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("REST fetch of %s at %d: %v", topic, offset, err)
	}
	return resp.StatusCode, body
}
