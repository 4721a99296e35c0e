package raftnode_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/raftmeta/raftnode"
	"github.com/runnel-dev/runnel/raftmeta/raftnode/raftnodetest"
)

func TestCall(t *testing.T) {
	var c *raftnodetest.Cluster
	c = raftnodetest.NewCluster(t, raftnodetest.Options{Voters: 3, Configure: func(cfg *raftnode.Config) {
		if cfg.ID == 3 {
			return // node 3 serves no calls
		}
		id := cfg.ID
		cfg.Handler = func(ctx context.Context, from uint64, req []byte) ([]byte, error) {
			if string(req) == "fail" {
				return nil, errors.New("handler says no")
			}
			if bytes.HasPrefix(req, []byte("propose ")) {
				// Like a controller handling a broker heartbeat: replicate, then answer.
				_, err := c.Node(id).Propose(ctx, req[len("propose "):])
				return []byte("ok"), err
			}
			return append([]byte{byte('0' + id), byte('0' + from), ':'}, req...), nil
		}
	}})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	// Calls made while peers are still starting wait for the connection.
	resp, err := c.Node(2).Call(ctx, 1, []byte("ping"))
	if err != nil || string(resp) != "12:ping" {
		t.Fatalf("call 2->1: %q %v", resp, err)
	}
	if resp, err := c.Node(1).Call(ctx, 1, []byte("self")); err != nil || string(resp) != "11:self" {
		t.Fatalf("call to self: %q %v", resp, err)
	}
	var re *raftnode.RemoteError
	if _, err := c.Node(2).Call(ctx, 1, []byte("fail")); !errors.As(err, &re) || re.Msg != "handler says no" || re.From != 1 {
		t.Fatalf("handler error: %v", err)
	}
	if _, err := c.Node(1).Call(ctx, 3, []byte("x")); !errors.Is(err, raftnode.ErrNoHandler) {
		t.Fatalf("no handler: %v", err)
	}
	if _, err := c.Node(1).Call(ctx, 42, []byte("x")); !errors.Is(err, raftnode.ErrUnknownPeer) {
		t.Fatalf("unknown peer: %v", err)
	}
	// Many concurrent calls share the connection.
	errs := make(chan error, 200)
	for i := 0; i < 200; i++ {
		go func() {
			resp, err := c.Node(1).Call(ctx, 2, []byte{byte(i)})
			if err == nil && (len(resp) != 4 || resp[3] != byte(i)) {
				err = errors.New("wrong answer")
			}
			errs <- err
		}()
	}
	for i := 0; i < 200; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// Handlers that propose and wait for the commit, many at once, from a peer
	// whose raft traffic shares the connection.
	c.WaitLeader(waitTimeout)
	for i := 0; i < 100; i++ {
		go func() {
			_, err := c.Node(2).Call(ctx, 1, fmt.Appendf(nil, "propose h%d=v", i))
			errs <- err
		}()
	}
	for i := 0; i < 100; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// A call to a stopped node fails instead of hanging.
	c.Stop(2)
	short, cancel2 := context.WithTimeout(ctx, 5*time.Second)
	defer cancel2()
	if _, err := c.Node(1).Call(short, 2, []byte("x")); err == nil {
		t.Fatal("call to a stopped node succeeded")
	}
}
