package broker

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/runnel-dev/runnel/raftmeta/metadata"
)

// TierHandler serves the tiering operator endpoints, for the broker's
// operator HTTP address (`runnel broker --metrics`, beside /metrics), which
// `runnel tier` calls:
//
//	GET  /v1/tier/segments?topic=T  the topic's remote segments (TierListing)
//	POST /v1/tier/verify[?topic=T]  read every recorded object back, list orphans (TierVerifyReport)
//
// Errors are {"error": {"code", "message"}}: 400 without a topic, 404 for
// an unknown topic, 503 when this broker does not tier (verify) or does
// not know the cluster id its store prefix is named after yet, and 500
// when the store cannot be listed. There is no authentication: the
// operator address belongs on loopback or a private network.
func (b *Broker) TierHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/tier/segments", func(w http.ResponseWriter, r *http.Request) {
		topic := r.URL.Query().Get("topic")
		if topic == "" {
			writeTierError(w, http.StatusBadRequest, "invalid_request", "give the topic: ?topic=NAME")
			return
		}
		l, err := b.TierSegments(topic)
		if err != nil {
			writeTierErr(w, err)
			return
		}
		writeTierJSON(w, http.StatusOK, l)
	})
	mux.HandleFunc("POST /v1/tier/verify", func(w http.ResponseWriter, r *http.Request) {
		rep, err := b.TierVerify(r.Context(), r.URL.Query().Get("topic"))
		if err != nil {
			writeTierErr(w, err)
			return
		}
		writeTierJSON(w, http.StatusOK, rep)
	})
	return mux
}

func writeTierErr(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, metadata.ErrUnknownTopic):
		writeTierError(w, http.StatusNotFound, "unknown_topic", err.Error())
	case errors.Is(err, ErrTieringOff):
		writeTierError(w, http.StatusServiceUnavailable, "tiering_off", err.Error())
	case errors.Is(err, errNoClusterID):
		writeTierError(w, http.StatusServiceUnavailable, "starting", err.Error())
	default:
		writeTierError(w, http.StatusInternalServerError, "store_error", err.Error())
	}
}

func writeTierError(w http.ResponseWriter, status int, code, msg string) {
	type body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	writeTierJSON(w, status, map[string]body{"error": {code, msg}})
}

func writeTierJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
