package broker_test

import (
	"log/slog"
	"testing"

	"github.com/runnel-dev/runnel/broker"
	"github.com/runnel-dev/runnel/broker/brokertest"
	"github.com/runnel-dev/runnel/tiering"
	"github.com/runnel-dev/runnel/tiering/s3test"
)

// newS3TierStore starts a versitygw server with a bucket and returns a
// store on it.
func newS3TierStore(t testing.TB) tiering.Store {
	t.Helper()
	srv := s3test.Start(t)
	store, err := tiering.NewS3(tiering.S3Options{
		Endpoint: srv.Endpoint, Bucket: srv.Bucket(t, "tier"), AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey,
		Region: s3test.Region, PathStyle: true,
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return store
}

// TestTierUploadS3 runs the upload path against a real S3 server
// (versitygw): create-only writes with If-None-Match, checksums, SigV4.
func TestTierUploadS3(t *testing.T) {
	store := newS3TierStore(t)
	b := brokertest.StartBroker(t, brokertest.Options{Tier: broker.TierConfig{Store: store}})
	// No prefix configured: the broker puts objects under runnel/<cluster id>.
	uploadAndCheck(t, b, store, "runnel/"+b.Member.Image().ClusterID())
}
