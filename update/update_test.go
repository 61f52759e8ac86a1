package update

import (
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testKey is a fixed key pair (the seed is all 7s).
var testKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))

func testPub() ed25519.PublicKey { return testKey.Public().(ed25519.PublicKey) }

// slotImage is a pseudo-random "file system image" of n bytes.
func slotImage(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.IntN(16)) // compressible, as a FAT image is
	}
	return b
}

// makeBundle builds a bundle of img; edit may change the manifest before
// it is signed.
func makeBundle(t testing.TB, img []byte, key ed25519.PrivateKey, edit func(*Manifest)) ([]byte, *Manifest) {
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(img)
	zw.Close()
	sum := sha256.Sum256(img)
	m := &Manifest{Format: 1, Board: "rpi3", Version: "v2", Built: 2000,
		Image: Image{Size: int64(len(img)), SHA256: hex.EncodeToString(sum[:]), Compressed: int64(z.Len())},
		Files: []File{{Name: "Image", Size: 10, SHA256: strings.Repeat("ab", 32)}}}
	if edit != nil {
		edit(m)
	}
	var b bytes.Buffer
	if err := WriteHeader(&b, m, key); err != nil {
		t.Fatal(err)
	}
	b.Write(z.Bytes())
	return b.Bytes(), m
}

// fakeCard is a card in a temporary directory: boot/ (autoboot.txt,
// slot-N.json), slot files p2 and p3 of slotSize bytes, state/. Slot A
// (2) runs and is committed, with version v1 built at 1000.
func fakeCard(t *testing.T, slotSize int) *Card {
	dir := t.TempDir()
	c := &Card{BootDir: filepath.Join(dir, "boot"), StateDir: filepath.Join(dir, "state"),
		Slots: map[int]string{2: filepath.Join(dir, "p2"), 3: filepath.Join(dir, "p3")}, Running: 2}
	os.MkdirAll(c.BootDir, 0o755)
	for p, seed := range map[int]uint64{2: 1, 3: 2} {
		if err := os.WriteFile(c.Slots[p], slotImage(slotSize, seed), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.setAutoboot(Autoboot{Committed: 2, Try: 3}); err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(&Manifest{Format: 1, Board: "rpi3", Version: "v1", Built: 1000})
	os.WriteFile(c.slotManifestPath(2), js, 0o644)
	return c
}

// stage stages b for c as the web UI does.
func stage(t *testing.T, c *Card, b []byte, force bool) (*Staged, error) {
	e, err := c.Expect("rpi3", force)
	if err != nil {
		t.Fatal(err)
	}
	return Stage(bytes.NewReader(b), testPub(), e, t.TempDir())
}

func TestInstallCommit(t *testing.T) {
	c := fakeCard(t, 64<<10)
	img := slotImage(40<<10, 9)
	b, _ := makeBundle(t, img, testKey, nil)
	st, err := stage(t, c, b, false)
	if err != nil {
		t.Fatalf("stage: %v", err)
	}
	if st.Manifest.Version != "v2" || st.Manifest.Board != "rpi3" {
		t.Errorf("manifest %+v", st.Manifest)
	}
	if err := c.Install(st); err != nil {
		t.Fatalf("install: %v", err)
	}
	got, _ := os.ReadFile(c.Slots[3])
	if !bytes.Equal(got[:len(img)], img) {
		t.Error("slot B does not hold the image")
	}
	if a, _ := c.Autoboot(); a != (Autoboot{Committed: 2, Try: 3}) {
		t.Errorf("autoboot after install %+v: the committed slot must stay A until the new one is healthy", a)
	}
	if m := c.SlotManifest(3); m == nil || m.Version != "v2" {
		t.Errorf("slot B manifest %+v", m)
	}
	// Another install while nothing is on trial yet replaces the pending one;
	// the trial boot follows.
	c.Running = 3
	trying, err := c.Settle()
	if err != nil || !trying || !c.Trying() {
		t.Fatalf("settle on the trial boot: trying %v, %v", trying, err)
	}
	if _, err := stage(t, c, b, true); err == nil {
		if err := c.Install(st); err == nil || !strings.Contains(err.Error(), "trial boot") {
			t.Errorf("install during a trial boot: %v, want refused", err)
		}
	}
	if err := c.Commit(); err != nil {
		t.Fatal(err)
	}
	if a, _ := c.Autoboot(); a != (Autoboot{Committed: 3, Try: 2}) {
		t.Errorf("autoboot after commit %+v, want committed 3, try 2", a)
	}
	s := c.Status()
	if s.Trying || s.Pending != nil || s.Last == nil || s.Last.Outcome != OutcomeCommitted || s.Last.Version != "v2" {
		t.Errorf("status after commit %+v (last %+v)", s, s.Last)
	}
	if !s.Slots[1].Running || !s.Slots[1].Committed || s.Slots[0].Manifest.Version != "v1" || s.Slots[1].Manifest.Version != "v2" {
		t.Errorf("slots %+v", s.Slots)
	}
	// The next boot (normal) settles nothing.
	if trying, err := c.Settle(); trying || err != nil {
		t.Errorf("settle after commit: %v %v", trying, err)
	}
}

func TestRollback(t *testing.T) {
	for _, tc := range []struct {
		name       string
		during     func(c *Card)
		wantReason string
	}{
		{"deadline", func(c *Card) {
			c.Waiting("line 1001: 403 Forbidden")
			c.Fail()
		}, "not healthy within the update health timeout: line 1001: 403 Forbidden"},
		{"deadline-no-report", func(c *Card) { c.Fail() }, "not healthy within the update health timeout"},
		{"reset", func(c *Card) {}, "it did not start"},
		{"reset-while-waiting", func(c *Card) { c.Waiting("the web UI") }, "restarted during its trial boot, still waiting for: the web UI"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fakeCard(t, 64<<10)
			b, _ := makeBundle(t, slotImage(40<<10, 9), testKey, nil)
			st, err := stage(t, c, b, false)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Install(st); err != nil {
				t.Fatal(err)
			}
			c.Running = 3 // the trial boot
			if trying, err := c.Settle(); !trying || err != nil {
				t.Fatalf("settle: %v %v", trying, err)
			}
			tc.during(c)
			c.Running = 2 // the firmware's next normal boot: the committed slot
			if trying, err := c.Settle(); trying || err != nil {
				t.Fatalf("settle after the rollback: %v %v", trying, err)
			}
			s := c.Status()
			if s.Pending != nil || s.Last == nil || s.Last.Outcome != OutcomeRolledBack || s.Last.Version != "v2" ||
				s.Last.Running != "v1" || !strings.Contains(s.Last.Reason, tc.wantReason) {
				t.Errorf("after the rollback: pending %+v, last %+v; want rolled back, reason with %q", s.Pending, s.Last, tc.wantReason)
			}
			if a, _ := c.Autoboot(); a.Committed != 2 {
				t.Errorf("committed slot %d after the rollback, want 2", a.Committed)
			}
		})
	}
}

func TestRefused(t *testing.T) {
	img := slotImage(40<<10, 9)
	good, _ := makeBundle(t, img, testKey, nil)
	otherKey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, 32))
	signedByOther, _ := makeBundle(t, img, otherKey, nil)
	tampered := bytes.Clone(good)
	tampered[bytes.Index(tampered, []byte(`"v2"`))+2] = '9' // the manifest says v9 now
	wrongHash, _ := makeBundle(t, img, testKey, func(m *Manifest) { m.Image.SHA256 = strings.Repeat("0", 64) })
	otherBoard, _ := makeBundle(t, img, testKey, func(m *Manifest) { m.Board = "rpi4" })
	older, _ := makeBundle(t, img, testKey, func(m *Manifest) { m.Version, m.Built = "v0", 500 })
	same, _ := makeBundle(t, img, testKey, func(m *Manifest) { m.Version = "v1" })
	tooBig, _ := makeBundle(t, slotImage(80<<10, 9), testKey, nil)
	lie, _ := makeBundle(t, img, testKey, func(m *Manifest) { m.Image.Size-- })
	payloadAt := len(good) - int(mustHeader(t, good).Image.Compressed)
	for _, tc := range []struct {
		name string
		b    []byte
		kind string
	}{
		{"empty", nil, KindTruncated},
		{"not a bundle", []byte("PK\x03\x04 a zip file, not a bundle at all"), KindFormat},
		{"other signer", signedByOther, KindSignature},
		{"tampered manifest", tampered, KindSignature},
		{"hash", wrongHash, KindHash},
		{"board", otherBoard, KindBoard},
		{"older", older, KindVersion},
		{"same version", same, KindVersion},
		{"larger than the slot", tooBig, KindSize},
		{"size lie", lie, KindSize},
		{"trailing data", append(bytes.Clone(good), 0), KindSize},
		{"truncated in the magic", good[:5], KindTruncated},
		{"truncated in the manifest", good[:40], KindTruncated},
		{"truncated in the signature", good[:payloadAt-10], KindTruncated},
		{"truncated at the payload", good[:payloadAt], KindTruncated},
		{"truncated in the payload", good[:payloadAt+100], KindTruncated},
		{"truncated in the gzip trailer", good[:len(good)-3], KindTruncated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fakeCard(t, 64<<10)
			before := snapshot(t, c)
			spool := t.TempDir()
			e, _ := c.Expect("rpi3", false)
			st, err := Stage(bytes.NewReader(tc.b), testPub(), e, spool)
			if err == nil {
				t.Fatalf("accepted: %+v", st.Manifest)
			}
			if KindOf(err) != tc.kind {
				t.Errorf("error kind %q (%v), want %q", KindOf(err), err, tc.kind)
			}
			t.Logf("%s: %v", tc.name, err)
			if left, _ := os.ReadDir(spool); len(left) != 0 {
				t.Errorf("spool not cleaned: %v", left)
			}
			if after := snapshot(t, c); after != before {
				t.Errorf("the card changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
	t.Run("older with force", func(t *testing.T) {
		c := fakeCard(t, 64<<10)
		if _, err := stage(t, c, older, true); err != nil {
			t.Errorf("forced older version: %v", err)
		}
	})
}

func mustHeader(t *testing.T, b []byte) *Manifest {
	m, err := ReadHeader(bytes.NewReader(b), testPub())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// snapshot is every file of the card with its hash.
func snapshot(t *testing.T, c *Card) string {
	var b strings.Builder
	for _, dir := range []string{filepath.Dir(c.BootDir)} {
		filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				x, _ := os.ReadFile(p)
				s := sha256.Sum256(x)
				rel, _ := filepath.Rel(dir, p)
				b.WriteString(rel + ":" + hex.EncodeToString(s[:4]) + " ")
			}
			return nil
		})
	}
	return b.String()
}

// A slot that reads back differently from what was written (a failing
// card) is refused and not recorded: the try is not armed.
func TestReadBackMismatch(t *testing.T) {
	c := fakeCard(t, 64<<10)
	b, m := makeBundle(t, slotImage(40<<10, 9), testKey, nil)
	st, err := stage(t, c, b, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.writeSlot(3, st); err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(c.Slots[3], os.O_WRONLY, 0)
	f.WriteAt([]byte{0xff}, 1234)
	f.Close()
	if err := c.verifySlot(3, m); KindOf(err) != KindHash {
		t.Errorf("verify of a changed slot: %v, want a hash error", err)
	}
}

func TestParseAutoboot(t *testing.T) {
	a, err := ParseAutoboot(Autoboot{Committed: 3, Try: 2}.Format())
	if err != nil || a != (Autoboot{Committed: 3, Try: 2}) {
		t.Errorf("round trip: %+v %v", a, err)
	}
	a, err = ParseAutoboot([]byte("[all]\ntryboot_a_b=1\nboot_partition=2\n\n[tryboot]\nboot_partition = 3\n"))
	if err != nil || a != (Autoboot{Committed: 2, Try: 3}) {
		t.Errorf("hand-written: %+v %v", a, err)
	}
	for _, bad := range []string{"", "[tryboot]\nboot_partition=3\n", "[all]\nboot_partition=x\n", "boot_partition=99\n"} {
		if _, err := ParseAutoboot([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestBootPartition(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "proc/device-tree/chosen/bootloader"), 0o755)
	if n := BootPartition(root); n != 0 {
		t.Errorf("nothing says: %d", n)
	}
	os.WriteFile(filepath.Join(root, "proc/device-tree/chosen/bootloader/partition"), binary.BigEndian.AppendUint32(nil, 3), 0o644)
	if n := BootPartition(root); n != 3 {
		t.Errorf("device tree: %d, want 3", n)
	}
	os.WriteFile(filepath.Join(root, "proc/cmdline"), []byte("console=ttyAMA0 ata.boot_partition=2 quiet\n"), 0o644)
	if n := BootPartition(root); n != 2 {
		t.Errorf("command line: %d, want 2", n)
	}
}

// FuzzStage: any byte string is refused with an *Error or staged; it
// never panics, and a staged one matches its manifest.
func FuzzStage(f *testing.F) {
	good, _ := makeBundle(f, slotImage(4<<10, 3), testKey, nil)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte(Magic + "\x00\x00\x00\x02{}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		spool := t.TempDir()
		st, err := Stage(bytes.NewReader(b), testPub(), Expect{Board: "rpi3", Force: true}, spool)
		if err != nil {
			if KindOf(err) == "" {
				t.Fatalf("error without a kind: %v", err)
			}
			return
		}
		r, err := st.Open()
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		n, _ := h.Write(mustRead(t, r))
		r.Close()
		if int64(n) != st.Manifest.Image.Size || hex.EncodeToString(h.Sum(nil)) != st.Manifest.Image.SHA256 {
			t.Fatal("staged payload does not match its manifest")
		}
	})
}

func mustRead(t *testing.T, r interface{ Read([]byte) (int, error) }) []byte {
	var b bytes.Buffer
	if _, err := b.ReadFrom(r); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// FuzzManifest: any manifest, signed with the right key (the fuzzer
// cannot forge signatures, so FuzzStage seldom gets past them), is
// decoded and validated or refused with an *Error; never a panic, and an
// accepted one is within the limits.
func FuzzManifest(f *testing.F) {
	_, m := makeBundle(f, slotImage(1<<10, 4), testKey, nil)
	js, _ := json.Marshal(m)
	f.Add(js)
	f.Add([]byte(`{"format":1,"board":"rpi3","version":"v1","built":1,"image":{"size":1,"sha256":"` + strings.Repeat("a", 64) + `","compressed_size":1},"files":[{"name":"../x","size":1,"sha256":"` + strings.Repeat("b", 64) + `"}]}`))
	f.Add([]byte(`{"format":1} {}`))
	f.Fuzz(func(t *testing.T, js []byte) {
		if len(js) == 0 || len(js) > MaxManifest {
			return
		}
		h := header(js)
		b := append(h, ed25519.Sign(testKey, h)...)
		m, err := ReadHeader(bytes.NewReader(b), testPub())
		if err != nil {
			if KindOf(err) == "" {
				t.Fatalf("error without a kind: %v", err)
			}
			return
		}
		if m.Image.Size <= 0 || m.Image.Size > MaxImageSize || m.Image.Compressed > MaxCompressed || m.Format != 1 {
			t.Fatalf("accepted out of limits: %+v", m)
		}
		for _, f := range m.Files {
			if strings.Contains(f.Name, "..") {
				t.Fatalf("accepted file name %q", f.Name)
			}
		}
	})
}

// FuzzParseAutoboot: what parses formats back to the same choice.
func FuzzParseAutoboot(f *testing.F) {
	f.Add(Autoboot{Committed: 2, Try: 3}.Format())
	f.Add([]byte("[all]\nboot_partition=3\n[tryboot]\nboot_partition=2\n[pi4]\nboot_partition=9\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseAutoboot(b)
		if err != nil {
			return
		}
		back, err := ParseAutoboot(a.Format())
		if err != nil || back != a {
			t.Fatalf("%+v formats to something that parses as %+v, %v", a, back, err)
		}
	})
}
