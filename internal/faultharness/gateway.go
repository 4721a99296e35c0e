package faultharness

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/runnel-dev/runnel/gateway/auth"
)

// Gateway is a "runnel gateway" process in front of a Cluster.
type Gateway struct {
	*Process
	// URL is its base URL, http://127.0.0.1:port.
	URL string
	// Token is an admin token it accepts.
	Token string
}

// gatewaySecret signs the harness's tokens; it only ever guards 127.0.0.1.
const gatewaySecret = "faultharness-secret-faultharness-secret"

func (c *Cluster) startGateway(bin, dir string) *Gateway {
	c.t.Helper()
	m, err := auth.NewSecretMinter([]byte(gatewaySecret))
	if err != nil {
		c.t.Fatal(err)
	}
	token, err := m.Mint(auth.MintOptions{Subject: "faultharness", Admin: true, TTL: 6 * time.Hour})
	if err != nil {
		c.t.Fatal(err)
	}
	addr := FreeAddr(c.t)
	p := NewProcess("gateway", bin, filepath.Join(dir, "gateway.log"), "gateway", "--http", addr,
		"--brokers", strings.Join(c.KafkaAddrs(), ","), "--jwt-secret", gatewaySecret, "--log-level", "info")
	if err := p.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.waitListening(p, addr)
	return &Gateway{Process: p, URL: fmt.Sprintf("http://%s", addr), Token: token}
}
