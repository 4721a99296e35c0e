package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runnel-dev/runnel/gateway/auth"
	"github.com/runnel-dev/runnel/internal/testwait"
)

// mountTmpfs mounts a tmpfs of size bytes on a new directory, unmounted at
// the end of the test (after the processes started later are killed). It
// skips the test where mounting is not permitted.
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+itoa(size)); err != nil {
		t.Skipf("this test fills a small tmpfs, and mounting one needs root (CAP_SYS_ADMIN): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fillDisk appends to a file in dir until the file system is full. The
// broker frees pages now and then (a checkpoint replaced by its new copy),
// so the tests fill again before each write that must fail.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return path
			}
			t.Fatalf("fill the disk: %v", err)
		}
	}
}

// bigEvents is a produce body of two events larger than a page, so that
// the log's write needs new pages of a full tmpfs (a small one could still
// fit in the last page).
func bigEvents() string {
	big := strings.Repeat("x", 8<<10)
	return `{"events":[{"value":"1` + big + `"},{"value":"2` + big + `"}]}`
}

// produceUntilFull fills the disk and posts bigEvents until the broker's
// log fails (507), on a partition that holds one event, and returns how
// many events were acknowledged until then (that one included): they
// must stay.
func produceUntilFull(t *testing.T, disk string, post func(body string) (int, string)) int64 {
	t.Helper()
	acked := int64(1)
	for {
		fillDisk(t, disk)
		code, body := post(bigEvents())
		if code == 507 {
			return acked
		}
		if code != 200 || acked > 40 {
			t.Fatalf("produce to a full disk: %d %.300s (after %d events were taken)", code, body, acked)
		}
		acked += 2
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestGatewayDiskFull runs a broker whose data directory is on a small
// tmpfs and a gateway in front of it, fills the disk, and produces over
// REST until the broker's log fails. Then every produce (acks=all, acks=1,
// with an Idempotency-Key) gets 507 insufficient_storage naming the
// partition within two seconds, where it got no answer for 15 s or a
// misleading "did not answer in time" before. Once there is room again
// (and the broker restarted, which clears its failed log), the retry with
// the same Idempotency-Key writes its events once, what was acknowledged
// is all there, and nothing the refused requests sent was stored.
func TestGatewayDiskFull(t *testing.T) {
	disk := mountTmpfs(t, 32<<20)
	secret := "gateway-disk-full-test-secret-0123456789ab"
	raft, kafka := freePort(t), freePort(t)
	broker := startBroker(t, kafka, "--id", "1", "--raft", raft, "--voters", "1@"+raft, "--data-dir", filepath.Join(disk, "data"))
	gw := startGatewayProc(t, kafka, secret)
	admin := mint(t, secret, auth.MintOptions{Subject: "admin", Admin: true})
	call := func(method, path, idem, body string) (int, string) { return gw.call(admin, method, path, idem, body) }
	if code, body := call("POST", "/v1/topics", "", `{"name":"full","partitions":1}`); code != 201 {
		t.Fatalf("create topic: %d %s", code, body)
	}
	testwait.For(t, 30*time.Second, 100*time.Millisecond, func() error {
		if code, body := call("POST", "/v1/topics/full/events", "", `{"value":"before"}`); code != 200 {
			return errors.New(body)
		}
		return nil
	})

	events := bigEvents()
	acked := produceUntilFull(t, disk, func(body string) (int, string) { return call("POST", "/v1/topics/full/events", "", body) })
	for _, c := range []struct{ name, path, idem string }{
		{"acks=all", "/v1/topics/full/events", ""},
		{"acks=1", "/v1/topics/full/events?acks=1", ""},
		{"Idempotency-Key", "/v1/topics/full/events", "disk-full-1"},
	} {
		fillDisk(t, disk)
		start := time.Now()
		code, body := call("POST", c.path, c.idem, events)
		took := time.Since(start)
		t.Logf("%s: %d after %v: %.300s", c.name, code, took.Round(time.Millisecond), body)
		var e struct {
			Error struct{ Code, Message string }
		}
		json.Unmarshal([]byte(body), &e)
		if code != 507 || e.Error.Code != "insufficient_storage" || !strings.Contains(e.Error.Message, `partition 0 of topic "full"`) {
			t.Errorf("%s with the disk full: %d %.300s, want 507 insufficient_storage naming the partition", c.name, code, body)
		}
		if took > 2*time.Second {
			t.Errorf("%s: the 507 took %v", c.name, took)
		}
	}

	if err := os.Remove(filepath.Join(disk, "filler")); err != nil {
		t.Fatal(err)
	}
	broker.kill()
	broker.start()
	testwait.For(t, 30*time.Second, 200*time.Millisecond, func() error {
		if code, body := call("POST", "/v1/topics/full/events", "disk-full-1", events); code != 200 {
			return errors.New(body)
		}
		return nil
	})
	code, body := call("GET", "/v1/topics/full/offsets", "", "")
	var offs struct {
		Partitions []struct{ Earliest, Latest int64 } `json:"partitions"`
	}
	if err := json.Unmarshal([]byte(body), &offs); code != 200 || err != nil || len(offs.Partitions) != 1 {
		t.Fatalf("offsets: %d %s", code, body)
	}
	// The events acknowledged before the log failed and the retried
	// request's two.
	if n := offs.Partitions[0].Latest - offs.Partitions[0].Earliest; n != acked+2 {
		t.Fatalf("the partition holds %d events, want %d: %s", n, acked+2, body)
	}
}
