package main

import (
	"flag"
	"log/slog"
	"time"

	"github.com/runnel-dev/runnel/broker"
	"github.com/runnel-dev/runnel/tiering"
)

// tierFlags are the tiered-storage settings of "runnel broker" and "runnel
// dev": a local directory (--tier-dir) or an S3-compatible bucket (--s3-*)
// for the rolled segments of remote.storage.enable topics. Like every
// flag, each also reads its RUNNEL_ environment variable
// (RUNNEL_S3_ACCESS_KEY, RUNNEL_S3_SECRET_KEY), which keeps secrets off the
// command line.
type tierFlags struct {
	dir            string
	s3             tiering.S3Options
	prefix         string
	cacheDir       string
	cacheBytes     int64
	retentionCheck time.Duration
}

func (f *tierFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.dir, "tier-dir", "", "tier the rolled segments of remote.storage.enable topics to this local `directory` (instead of S3)")
	fs.StringVar(&f.s3.Endpoint, "s3-endpoint", "", "S3-compatible service to tier segments to, as `host:port` (no scheme; see --s3-tls)")
	fs.StringVar(&f.s3.Bucket, "s3-bucket", "", "S3 `bucket` for tiered segments (must exist); setting it turns S3 tiering on")
	fs.StringVar(&f.s3.AccessKey, "s3-access-key", "", "S3 access `key` (better: RUNNEL_S3_ACCESS_KEY)")
	fs.StringVar(&f.s3.SecretKey, "s3-secret-key", "", "S3 secret `key` (better: RUNNEL_S3_SECRET_KEY)")
	fs.StringVar(&f.s3.Region, "s3-region", "us-east-1", "S3 `region` of the bucket")
	fs.BoolVar(&f.s3.Secure, "s3-tls", false, "talk to the S3 endpoint over HTTPS")
	fs.BoolVar(&f.s3.InsecureSkipVerify, "s3-insecure", false, "do not check the S3 endpoint's TLS certificate (test servers only; needs --s3-tls)")
	fs.StringVar(&f.s3.CAFile, "s3-ca-file", "", "PEM `file` of extra roots trusted for the S3 endpoint (needs --s3-tls)")
	fs.BoolVar(&f.s3.PathStyle, "s3-path-style", true, "address the bucket as endpoint/bucket/key, as MinIO and other self-hosted servers need")
	fs.StringVar(&f.prefix, "tier-prefix", "", "key `prefix` of this cluster's objects in the store (default runnel/<cluster id>)")
	fs.StringVar(&f.cacheDir, "tier-cache-dir", "", "`directory` of the read cache of remote segments, outside --data-dir (default: DATA-DIR-tier-cache, beside it)")
	fs.Int64Var(&f.cacheBytes, "tier-cache-bytes", tiering.DefaultCacheBytes, "`bytes` the read cache of remote segments may hold")
	fs.DurationVar(&f.retentionCheck, "retention-check-interval", 5*time.Minute, "log.retention.check.interval.ms: how often retention, local retention of tiered topics included, runs (`duration`)")
}

// config returns the broker's tier settings: no store when neither
// --tier-dir nor --s3-bucket is given.
func (f *tierFlags) config(log *slog.Logger) (broker.TierConfig, error) {
	if f.retentionCheck <= 0 {
		return broker.TierConfig{}, usagef("--retention-check-interval must be positive")
	}
	if f.cacheBytes <= 0 {
		return broker.TierConfig{}, usagef("--tier-cache-bytes must be positive")
	}
	s3 := f.s3.Bucket != "" || f.s3.Endpoint != ""
	var (
		store tiering.Store
		err   error
	)
	switch {
	case f.dir != "" && s3:
		return broker.TierConfig{}, usagef("--tier-dir and --s3-bucket/--s3-endpoint: choose one store")
	case f.dir != "":
		if store, err = tiering.OpenDir(f.dir); err != nil {
			return broker.TierConfig{}, usagef("--tier-dir: %v", err)
		}
	case s3:
		if store, err = tiering.NewS3(f.s3, log.With("component", "tiering")); err != nil {
			return broker.TierConfig{}, usagef("--s3-*: %v", err)
		}
	default:
		return broker.TierConfig{}, nil
	}
	return broker.TierConfig{Store: store, Prefix: f.prefix, CacheDir: f.cacheDir, CacheBytes: f.cacheBytes}, nil
}
