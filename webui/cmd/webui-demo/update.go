package main

import (
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/openata/ata/update"
	"github.com/openata/ata/webui"
	"github.com/openata/ata/webui/internal/fakebackend"
)

var updateDir = flag.String("update", "", "firmware updates on a card in this directory: slot A runs v1; bundles for it are written there "+
	"(ata-rpi3-v2.update, signed with the demo key; bad-signature.update; ata-rpi4-v2.update); Install restarts into the new slot at once, which commits itself")

// demoKey signs the demo's bundles (a fixed seed: not a secret).
var demoKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x42}, 32))

// updBackend is the fake backend with a firmware updater.
type updBackend struct {
	*fakebackend.Backend
	mu sync.Mutex
	m  *update.Manager
}

func (b *updBackend) UpdateManager() *update.Manager {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.m
}

// withUpdater adds the -update card to the backend, if asked.
func withUpdater(b *fakebackend.Backend, log *slog.Logger) (webui.Backend, error) {
	if *updateDir == "" {
		return b, nil
	}
	dir := *updateDir
	card := &update.Card{BootDir: filepath.Join(dir, "boot"), StateDir: filepath.Join(dir, "state"),
		Slots: map[int]string{2: filepath.Join(dir, "p2"), 3: filepath.Join(dir, "p3")}, Running: 2, Log: log}
	if err := os.MkdirAll(card.BootDir, 0o755); err != nil {
		return nil, err
	}
	files := map[string][]byte{
		filepath.Join(card.BootDir, update.AutobootFile): update.Autoboot{Committed: 2, Try: 3}.Format(),
		filepath.Join(card.BootDir, "slot-2.json"):       []byte(`{"format":1,"board":"rpi3","version":"v1","built":1000}`),
		card.Slots[2]: bytes.Repeat([]byte{0}, 1<<20),
		card.Slots[3]: bytes.Repeat([]byte{0}, 1<<20),
	}
	img := bytes.Repeat([]byte("demo slot image "), 40000) // 640 kB
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x43}, 32))
	files[filepath.Join(dir, "ata-rpi3-v2.update")] = demoBundle(img, "rpi3", "v2", 2000, demoKey)
	files[filepath.Join(dir, "bad-signature.update")] = demoBundle(img, "rpi3", "v2", 2000, other)
	files[filepath.Join(dir, "ata-rpi4-v2.update")] = demoBundle(img, "rpi4", "v2", 2000, demoKey)
	for name, body := range files {
		if err := os.WriteFile(name, body, 0o644); err != nil {
			return nil, err
		}
	}
	ub := &updBackend{Backend: b}
	var newManager func(*update.Card) *update.Manager
	newManager = func(card *update.Card) *update.Manager {
		return &update.Manager{Card: card, Key: demoKey.Public().(ed25519.PublicKey), Board: "rpi3", SpoolDir: dir,
			RestartDelay: 500 * time.Millisecond, Restart: func() error {
				// As the box would: the firmware starts the new slot once, and
				// the new version, healthy, commits itself.
				time.Sleep(time.Second)
				next := *card
				next.Running = card.Status().Pending.To
				ub.mu.Lock()
				ub.m = newManager(&next)
				ub.mu.Unlock()
				return next.Commit()
			}}
	}
	ub.m = newManager(card)
	return ub, nil
}

func demoBundle(img []byte, board, version string, built int64, key ed25519.PrivateKey) []byte {
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(img)
	zw.Close()
	sum := sha256.Sum256(img)
	m := &update.Manifest{Format: 1, Board: board, Version: version, Built: built,
		Image: update.Image{Size: int64(len(img)), SHA256: hex.EncodeToString(sum[:]), Compressed: int64(z.Len())}}
	var b bytes.Buffer
	update.WriteHeader(&b, m, key)
	b.Write(z.Bytes())
	return b.Bytes()
}
