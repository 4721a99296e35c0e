package backend

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/runnel-dev/runnel/internal/testlog"
	"github.com/runnel-dev/runnel/internal/testwait"
)

// TestFirstContactWarnsOnlyWhenLong checks the log of a Backend's first
// contact with its cluster: nothing above Debug (franz-go's dial failures
// included) for a cluster that answers, or that has been down a short while,
// as on every start where gateway and brokers start together; one warning
// once it stays down past unreachableWarnAfter, and an Info line when it
// answers after that.
func TestFirstContactWarnsOnlyWhenLong(t *testing.T) {
	ctx := context.Background()
	t.Run("cluster up", func(t *testing.T) {
		c, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		log, buf := testlog.New()
		b, err := New(ctx, Config{Brokers: c.ListenAddrs(), Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		time.Sleep(500 * time.Millisecond)
		if s := buf.String(); strings.Contains(s, "level=WARN") || strings.Contains(s, "not reachable") {
			t.Fatalf("log of a normal start:\n%s", s)
		}
	})
	t.Run("cluster down a while, then up", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		old := unreachableWarnAfter
		unreachableWarnAfter = 2 * time.Second
		t.Cleanup(func() { unreachableWarnAfter = old })
		log, buf := testlog.New()
		b, err := New(ctx, Config{Brokers: []string{addr}, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		time.Sleep(time.Second)
		const warning = `level=WARN msg="cluster not reachable`
		if n := buf.Count("level=WARN"); n != 0 {
			t.Fatalf("warned within a second:\n%s", buf.String())
		}
		testwait.For(t, 20*time.Second, 50*time.Millisecond, func() error {
			if buf.Count("cluster not reachable yet; retrying") == 0 {
				return errors.New("no warning yet")
			}
			return nil
		})
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		testwait.For(t, 20*time.Second, 50*time.Millisecond, func() error {
			if buf.Count(`level=INFO msg="cluster reachable"`) == 0 {
				return errors.New("not reachable yet")
			}
			return nil
		})
		if n := buf.Count(warning); n != 1 {
			t.Fatalf("%d warnings for one outage, want 1:\n%s", n, buf.String())
		}
	})
}
