package config

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func sampleConfig(region string) *Config {
	c := Default()
	c.Phone.Region = region
	c.Lines = []Line{{Number: "1001", ServiceDomain: "voip.example.net", Password: "s3cret \"quoted\"", OutboundProxy: "proxy.example.net:5070"}}
	return c
}

func TestSaveRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ata.toml")
	want := sampleConfig("de")
	if err := Save(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("read back\n%+v\nwant\n%+v", got, want)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v: the file holds passwords", fi.Mode())
	}
}

func TestSaveRefusesInvalidAndKeepsOld(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ata.toml")
	if err := Save(path, sampleConfig("us")); err != nil {
		t.Fatal(err)
	}
	bad := sampleConfig("us")
	bad.Lines[0].Registrar = "voip.example.net:99999"
	err := Save(path, bad)
	var ke *KeyError
	if !errors.As(err, &ke) || ke.Key != "line[0].registrar" {
		t.Fatalf("error %v, want a KeyError for line[0].registrar", err)
	}
	c, err := Load(path)
	if err != nil || c.Lines[0].Registrar != "" {
		t.Fatalf("old config not kept: %+v %v", c, err)
	}
}

// TestSaveSurvivesKillAtAnyMoment kills a process that saves in a loop at
// random moments, 200 times; the file must always parse and hold one of
// the two configs it alternates between.
func TestSaveSurvivesKillAtAnyMoment(t *testing.T) {
	if os.Getenv("ATA_SAVE_LOOP") != "" {
		path := os.Getenv("ATA_SAVE_LOOP")
		for i := 0; ; i++ {
			region := "us"
			if i%2 == 1 {
				region = "de"
			}
			if err := Save(path, sampleConfig(region)); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(3)
			}
		}
	}
	path := filepath.Join(t.TempDir(), "ata.toml")
	if err := Save(path, sampleConfig("us")); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for i := 0; i < 200; i++ {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestSaveSurvivesKillAtAnyMoment$")
		cmd.Env = append(os.Environ(), "ATA_SAVE_LOOP="+path)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(5000+rand.IntN(20000)) * time.Microsecond)
		cmd.Process.Kill() // SIGKILL: no chance to finish a write
		cmd.Wait()
		c, err := Load(path)
		if err != nil {
			t.Fatalf("after kill %d the config does not parse: %v", i, err)
		}
		if c.Phone.Region != "us" && c.Phone.Region != "de" {
			t.Fatalf("after kill %d: region %q", i, c.Phone.Region)
		}
		seen[c.Phone.Region]++
	}
	if err := Save(path, sampleConfig("us")); err != nil {
		t.Fatal(err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".ata.toml.tmp*"))
	if len(leftovers) != 0 {
		t.Fatalf("a save left %d temporary files of interrupted saves behind", len(leftovers))
	}
	t.Logf("regions after kills: %v", seen)
	if seen["us"] == 0 || seen["de"] == 0 {
		t.Fatalf("the saver never got to write both configs (%v): the test did not exercise interrupted saves", seen)
	}
}
