package tiering

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// S3Options configure an S3Store. Zero values take the defaults named on
// each field.
type S3Options struct {
	// Endpoint is host[:port] of the S3 service, without scheme
	// ("s3.eu-west-1.amazonaws.com", "127.0.0.1:9000"). Required.
	Endpoint string
	// Bucket holds the objects; it must exist. Required.
	Bucket string
	// AccessKey and SecretKey sign requests (SigV4); SessionToken is for
	// temporary credentials. Empty keys send anonymous requests.
	AccessKey, SecretKey, SessionToken string
	// Region of the bucket (default "us-east-1").
	Region string
	// Secure uses HTTPS. InsecureSkipVerify turns off certificate checks
	// (test servers only); CAFile adds a PEM bundle of trusted roots.
	Secure             bool
	InsecureSkipVerify bool
	CAFile             string
	// PathStyle forces path-style bucket addressing (endpoint/bucket/key),
	// which most self-hosted servers need; otherwise minio-go picks.
	PathStyle bool

	// PartSize is the multipart part size; objects larger than it are
	// uploaded in parts of this size, PartConcurrency at a time (defaults
	// 16 MiB and 4; the minimum part size of S3 is 5 MiB).
	PartSize        uint64
	PartConcurrency uint

	// Attempts is how many times a call is tried before its error is
	// returned (default 5); between attempts the store waits a backoff that
	// starts at BackoffBase (default 200ms), doubles, is capped at
	// BackoffMax (default 10s) and is jittered.
	Attempts    int
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// CallTimeout bounds one attempt of Stat, Delete, one List page, and
	// the wait for a Get's response headers (default 30s). PutTimeout
	// bounds one attempt of a Put (default 10m).
	CallTimeout time.Duration
	PutTimeout  time.Duration
}

const (
	defaultRegion      = "us-east-1"
	defaultPartSize    = 16 << 20
	minPartSize        = 5 << 20
	defaultConcurrency = 4
	defaultAttempts    = 5
	defaultBackoffBase = 200 * time.Millisecond
	defaultBackoffMax  = 10 * time.Second
	defaultCallTimeout = 30 * time.Second
	defaultPutTimeout  = 10 * time.Minute
)

func (o *S3Options) fillDefaults() {
	if o.Region == "" {
		o.Region = defaultRegion
	}
	if o.PartSize == 0 {
		o.PartSize = defaultPartSize
	}
	if o.PartConcurrency == 0 {
		o.PartConcurrency = defaultConcurrency
	}
	if o.Attempts == 0 {
		o.Attempts = defaultAttempts
	}
	if o.BackoffBase == 0 {
		o.BackoffBase = defaultBackoffBase
	}
	if o.BackoffMax == 0 {
		o.BackoffMax = defaultBackoffMax
	}
	if o.CallTimeout == 0 {
		o.CallTimeout = defaultCallTimeout
	}
	if o.PutTimeout == 0 {
		o.PutTimeout = defaultPutTimeout
	}
}

// Validate says in plain words what is wrong with the options, if anything.
// It checks the values as given; unset fields are fine (they take defaults).
func (o S3Options) Validate() error {
	var errs []error
	switch {
	case o.Endpoint == "":
		errs = append(errs, errors.New("an endpoint (host:port) is required"))
	case strings.Contains(o.Endpoint, "://"):
		errs = append(errs, fmt.Errorf("endpoint %q: give host:port without a scheme, and set Secure for https", o.Endpoint))
	case strings.Contains(o.Endpoint, "/"):
		errs = append(errs, fmt.Errorf("endpoint %q: give host:port without a path", o.Endpoint))
	}
	if o.Bucket == "" {
		errs = append(errs, errors.New("a bucket is required"))
	}
	if (o.AccessKey == "") != (o.SecretKey == "") {
		errs = append(errs, errors.New("access key and secret key go together: set both or neither"))
	}
	if o.PartSize != 0 && o.PartSize < minPartSize {
		errs = append(errs, fmt.Errorf("part size %d is below S3's minimum of 5 MiB", o.PartSize))
	}
	if o.Attempts < 0 {
		errs = append(errs, fmt.Errorf("attempts %d: must be at least 1", o.Attempts))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"backoff base", o.BackoffBase}, {"backoff max", o.BackoffMax}, {"call timeout", o.CallTimeout}, {"put timeout", o.PutTimeout}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s %v: must not be negative", d.name, d.v))
		}
	}
	if (o.InsecureSkipVerify || o.CAFile != "") && !o.Secure {
		errs = append(errs, errors.New("TLS settings given but Secure (https) is off"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("tiering: S3 options: %w", errors.Join(errs...))
	}
	return nil
}
