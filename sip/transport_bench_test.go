package sip

import (
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/openata/ata/internal/kamailiotest"
)

// BenchmarkTLSRegistration is one registration of a TLS line from
// nothing: TCP connect, TLS handshake with the certificate checked,
// REGISTER, 401, REGISTER with digest, 200 (Kamailio on loopback).
func BenchmarkTLSRegistration(b *testing.B) {
	k := kamailiotest.Start(b, kamailiotest.Config{Users: map[string]string{"alice": "pw"}, TLS: true})
	cfg := testStackConfig()
	cfg.Listen, cfg.KeepAlive, cfg.TLSCAFile = "127.0.0.1:0", 0, k.CA().CAFile()
	st, err := NewStack(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	acct := Account{Number: "1001", ServiceDomain: "sip.test", AuthUser: "alice", Password: "pw",
		Registrar: "sip.test:" + strconv.Itoa(int(k.TLSAddr().Port())), Transport: "tls", RegisterExpires: time.Hour}
	for b.Loop() {
		r, err := NewRegistration(st, acct, RegOptions{Timeout: 3 * time.Second, Resolver: testHosts})
		if err != nil {
			b.Fatal(err)
		}
		ch, unsub := r.Subscribe()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		for s := range ch {
			if s.State == StateRegistered {
				break
			}
			if s.State == StateFailing {
				b.Fatalf("registration failed: %s", s.LastError)
			}
		}
		b.StopTimer()
		unsub()
		cancel()
		<-done // unregisters and closes the connection
		b.StartTimer()
	}
}

// BenchmarkTLSConnectionMemory holds 20 TLS connections to Kamailio open
// and reports the heap and goroutine stacks each takes (bytes/conn): the
// TLS state and buffers, sipgo's 32 KiB read buffer, its reader goroutine.
func BenchmarkTLSConnectionMemory(b *testing.B) {
	k := kamailiotest.Start(b, kamailiotest.Config{TLS: true})
	cfg := testStackConfig()
	cfg.Listen, cfg.KeepAlive, cfg.TLSCAFile = "127.0.0.1:0", 0, k.CA().CAFile()
	st, err := NewStack(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	const n = 20
	var perConn float64
	for b.Loop() {
		before := inUse()
		flows := make([]*flow, 0, n)
		for range n {
			f, err := st.dialFlow(context.Background(), TransportTLS, k.TLSAddr(), tlsSettings{serverName: "sip.test", verify: true})
			if err != nil {
				b.Fatal(err)
			}
			flows = append(flows, f)
		}
		perConn += float64(inUse()-before) / n
		b.StopTimer()
		for _, f := range flows {
			f.close()
		}
		b.StartTimer()
	}
	b.ReportMetric(perConn/float64(b.N), "bytes/conn")
}

// inUse is the heap and goroutine stack memory in use after a GC.
func inUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse + m.StackInuse)
}
