// Command ata-bundle makes the update signing key pair and signed update
// bundles (make keys, make update), and shows a bundle's manifest.
//
//	ata-bundle keygen DIR
//	    DIR/update.key (private, base64 seed, mode 0600) and DIR/update.pub;
//	    refuses to replace an existing key.
//	ata-bundle build -key FILE -board B -version V -built UNIX -image SLOT.IMG -files DIR -o OUT
//	    OUT: the manifest (board, version, build time, the image's size and
//	    SHA-256, each file of DIR with its size and SHA-256), signed, then
//	    the slot image gzip-compressed.
//	ata-bundle inspect -pub FILE BUNDLE
//	    checks the signature and the payload's hash; prints the manifest.
package main

import (
	"bufio"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/openata/ata/update"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "keygen":
		if len(os.Args) != 3 {
			usage()
		}
		err = keygen(os.Args[2])
	case "build":
		err = build(os.Args[2:])
	case "inspect":
		err = inspect(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "ata-bundle: %v\n", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: ata-bundle keygen DIR | build -key FILE -board B -version V -built UNIX -image IMG -files DIR -o OUT | inspect -pub FILE BUNDLE")
	os.Exit(2)
}

func keygen(dir string) error {
	priv, pub := filepath.Join(dir, "update.key"), filepath.Join(dir, "update.pub")
	for _, f := range []string{priv, pub} {
		if _, err := os.Stat(f); err == nil {
			return fmt.Errorf("%s exists: keep it (every box built with its public key accepts only bundles it signs); remove %s yourself to start over", f, dir)
		}
	}
	pk, sk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(priv, []byte(base64.StdEncoding.EncodeToString(sk.Seed())+"\n"), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(pub, []byte(base64.StdEncoding.EncodeToString(pk)+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Printf("ata-bundle: %s (secret: never commit or share it) and %s (key %s, built into the firmware by make image)\n", priv, pub, update.KeyID(pk))
	return nil
}

func build(args []string) error {
	fs := flag.NewFlagSet("build", flag.ExitOnError)
	keyFile := fs.String("key", "keys/update.key", "private key file")
	board := fs.String("board", "", "board name")
	version := fs.String("version", "", "version")
	built := fs.Int64("built", 0, "build time, Unix seconds (orders versions)")
	image := fs.String("image", "", "the slot's file system image")
	files := fs.String("files", "", "directory of the files in the image (listed in the manifest)")
	out := fs.String("o", "", "output bundle")
	fs.Parse(args)
	if *board == "" || *version == "" || *image == "" || *out == "" {
		usage()
	}
	kb, err := os.ReadFile(*keyFile)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no signing key %s: make one with 'make keys' (once; keep keys/ safe and out of git)", *keyFile)
	}
	if err != nil {
		return err
	}
	key, err := update.ParsePrivateKey(string(kb))
	if err != nil {
		return fmt.Errorf("%s: %w", *keyFile, err)
	}
	m := &update.Manifest{Format: 1, Board: *board, Version: *version, Built: *built}
	if *files != "" {
		if m.Files, err = listFiles(*files); err != nil {
			return err
		}
	}
	// The payload is compressed to a temporary file first: its size is in
	// the signed manifest, ahead of it.
	img, err := os.Open(*image)
	if err != nil {
		return err
	}
	defer img.Close()
	tmp, err := os.CreateTemp(filepath.Dir(*out), ".bundle-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	zw, _ := gzip.NewWriterLevel(tmp, gzip.DefaultCompression) // -9: 3x the time for 0.1 % less
	n, err := io.Copy(io.MultiWriter(zw, h), bufio.NewReader(img))
	if err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	csize, err := tmp.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	m.Image = update.Image{Size: n, SHA256: hex.EncodeToString(h.Sum(nil)), Compressed: csize}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return err
	}
	o, err := os.Create(*out + ".part")
	if err != nil {
		return err
	}
	defer os.Remove(o.Name())
	bw := bufio.NewWriter(o)
	if err := update.WriteHeader(bw, m, key); err != nil {
		return err
	}
	if _, err := io.Copy(bw, tmp); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := o.Close(); err != nil {
		return err
	}
	if err := os.Rename(o.Name(), *out); err != nil {
		return err
	}
	fmt.Printf("ata-bundle: %s: %s %s, slot image %.1f MiB, bundle %.1f MiB, signed with key %s\n",
		*out, m.Board, m.Version, float64(n)/(1<<20), float64(csize)/(1<<20), update.KeyID(key.Public().(ed25519.PublicKey)))
	return nil
}

func listFiles(dir string) ([]update.File, error) {
	var out []update.File
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		s := sha256.Sum256(b)
		out = append(out, update.File{Name: filepath.ToSlash(rel), Size: int64(len(b)), SHA256: hex.EncodeToString(s[:])})
		return nil
	})
	slices.SortFunc(out, func(a, b update.File) int { return strings.Compare(a.Name, b.Name) })
	return out, err
}

func inspect(args []string) error {
	fs := flag.NewFlagSet("inspect", flag.ExitOnError)
	pubFile := fs.String("pub", "keys/update.pub", "public key file")
	fs.Parse(args)
	if fs.NArg() != 1 {
		usage()
	}
	pb, err := os.ReadFile(*pubFile)
	if err != nil {
		return err
	}
	pub, err := update.ParsePublicKey(string(pb))
	if err != nil {
		return err
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	m, err := update.ReadHeader(bufio.NewReader(f), pub)
	if err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	st, err := update.Stage(bufio.NewReader(f), pub, update.Expect{Board: m.Board, Force: true}, os.TempDir())
	if err != nil {
		return err
	}
	st.Remove()
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(m)
}
