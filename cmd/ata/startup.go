package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/openata/ata/config"
)

// configFiles says where the running config came from and where the web
// UI's saves go. A hand-written file given with -config is only ever read:
// saves go to the data directory's ata.toml, which wins at the next start.
type configFiles struct {
	Given   string // -config FILE; "" without
	InForce string // the file the running config was read from; "" for the embedded default
	Save    string // DATA_DIR/ata.toml: the web UI's saves
	Good    string // DATA_DIR/ata.toml.good: the last config that started well
	Note    string // why InForce is the file it is, for the status page
}

// goodSuffix names the last-known-good copy next to the saved config.
const goodSuffix = ".good"

// loadConfig finds the config to run on and makes it usable. Candidates,
// in order: the web UI's saved file (DATA_DIR/ata.toml), the -config file,
// the embedded default (only without -config). A candidate that does not
// decode is passed over (and reported); when none does, the last known
// good config runs; with none of those either, the error ends the start.
// Settings that decode but cannot be used run on the last good (or
// default) values, with a problem for each (config.MakeUsable).
func loadConfig(given string, log *slog.Logger) (*config.Config, configFiles, []config.Problem, error) {
	var probs []config.Problem
	var files configFiles
	files.Given = given
	dataDir := config.Default().System.DataDir
	var givenCfg *config.Config
	var givenErr error
	if given != "" {
		givenCfg, givenErr = decodeFile(given)
		if givenErr == nil {
			dataDir = givenCfg.System.DataDir
		}
	}
	files.Save = filepath.Join(dataDir, "ata.toml")
	files.Good = files.Save + goodSuffix
	sameFile := given != "" && samePath(given, files.Save)

	var cfg *config.Config
	if _, err := os.Stat(files.Save); err == nil && !sameFile {
		c, err := decodeFile(files.Save)
		if err == nil {
			cfg, files.InForce = c, files.Save
			if given != "" {
				files.Note = fmt.Sprintf("saved from the web UI; it takes the place of %s", given)
			}
		} else {
			probs = append(probs, config.Problem{Key: "config", Msg: err.Error(), Fix: "this file is passed over"})
		}
	}
	if cfg == nil && given != "" {
		if givenErr == nil {
			cfg, files.InForce = givenCfg, given
		} else {
			probs = append(probs, config.Problem{Key: "config", Msg: givenErr.Error(), Fix: "this file is passed over"})
		}
	}
	if cfg == nil && given == "" && len(probs) == 0 {
		cfg = config.Default()
	}
	goodPaths := []string{files.Good}
	if givenErr != nil { // its data directory is unknown: on the image the file lives in it
		goodPaths = []string{filepath.Join(filepath.Dir(given), "ata.toml"+goodSuffix), files.Good}
	}
	var good *config.Config
	goodErr := errors.New("none")
	for _, p := range goodPaths {
		if good, goodErr = decodeFile(p); goodErr == nil && good.Validate() == nil {
			files.Good = p
			break
		}
		good, goodErr = nil, errors.New("none")
	}
	if cfg == nil {
		if goodErr != nil {
			if given != "" && givenErr != nil {
				return nil, files, nil, givenErr
			}
			return nil, files, nil, errors.New(probs[0].Msg)
		}
		cfg, files.InForce = good, files.Good
		files.Save = filepath.Join(good.System.DataDir, "ata.toml")
		files.Note = "the last config that started well: fix or replace the file that did not read"
		probs[len(probs)-1].Fix = "the last known good config runs"
	}
	fallback := config.Default()
	if goodErr == nil {
		fallback = good
	}
	more, err := cfg.MakeUsable(fallback, func(c *config.Config) error {
		if _, err := portOptions(c.Phone, log); err != nil {
			return err
		}
		return checkRoutes(c)
	})
	if err != nil {
		return nil, files, nil, err
	}
	return cfg, files, append(probs, more...), nil
}

func decodeFile(path string) (*config.Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return config.Decode(path, data)
}

func samePath(a, b string) bool {
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	if err1 != nil || err2 != nil {
		return a == b
	}
	if aa == bb {
		return true
	}
	sa, err1 := os.Stat(aa)
	sb, err2 := os.Stat(bb)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// writeGood keeps the running config as the last known good one, after a
// start that reached "registered, or no lines" with no problem.
func writeGood(path string, cfg *config.Config) error {
	data, err := config.Marshal(cfg)
	if err != nil {
		return err
	}
	return config.WriteFileAtomic(path, data, 0o600)
}
