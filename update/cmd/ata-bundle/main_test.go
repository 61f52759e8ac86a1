package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openata/ata/update"
)

// keygen, then build a bundle of a slot image that the package's Stage
// accepts with the public key; keygen never replaces a key; build
// without a key says how to make one.
func TestKeygenBuild(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	if err := keygen(keys); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(keys, "update.key"))
	if err := keygen(keys); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("second keygen: %v, want refused", err)
	}
	if after, _ := os.ReadFile(filepath.Join(keys, "update.key")); !bytes.Equal(before, after) {
		t.Error("the key was replaced")
	}
	if fi, _ := os.Stat(filepath.Join(keys, "update.key")); fi.Mode().Perm() != 0o600 {
		t.Errorf("private key mode %v", fi.Mode().Perm())
	}
	img := filepath.Join(dir, "slot.img")
	os.WriteFile(img, bytes.Repeat([]byte("fat "), 50000), 0o644)
	files := filepath.Join(dir, "slot")
	os.MkdirAll(files, 0o755)
	os.WriteFile(filepath.Join(files, "Image"), []byte("kernel"), 0o644)
	out := filepath.Join(dir, "ata-rpi3-v9.update")
	args := []string{"-board", "rpi3", "-version", "v9", "-built", "9000", "-image", img, "-files", files, "-o", out}
	if err := build(append([]string{"-key", filepath.Join(dir, "none", "update.key")}, args...)); err == nil || !strings.Contains(err.Error(), "make keys") {
		t.Errorf("build without a key: %v, want the way to make one", err)
	}
	if err := build(append([]string{"-key", filepath.Join(keys, "update.key")}, args...)); err != nil {
		t.Fatal(err)
	}
	pb, _ := os.ReadFile(filepath.Join(keys, "update.pub"))
	pub, err := update.ParsePublicKey(string(pb))
	if err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(out)
	defer f.Close()
	st, err := update.Stage(f, pub, update.Expect{Board: "rpi3"}, dir)
	if err != nil {
		t.Fatalf("the built bundle is refused: %v", err)
	}
	defer st.Remove()
	m := st.Manifest
	if m.Version != "v9" || m.Built != 9000 || m.Image.Size != 200000 || len(m.Files) != 1 || m.Files[0].Name != "Image" || m.Files[0].Size != 6 {
		t.Errorf("manifest %+v", m)
	}
	if err := inspect([]string{"-pub", filepath.Join(keys, "update.pub"), out}); err != nil {
		t.Errorf("inspect: %v", err)
	}
}
