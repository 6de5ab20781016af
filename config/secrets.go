package config

import (
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"strings"
)

// Secrets never sit in the config file itself: each comes from the file a *_file key names or,
// when that key is empty, from an RMAD_* environment variable. Messages name the key, the file
// or the variable, never the value.

// Environment variables for secrets. IMAP and webhook names are upper-cased with every other
// character than A-Z and 0-9 turned into '_' (see EnvName).
const (
	EnvRedisPassword = "RMAD_REDIS_PASSWORD"
	EnvSMTPPassword  = "RMAD_SMTP_PASSWORD"
	// EnvSMTPClientSecret holds smtp.oauth2's client secret when client_secret_file is empty.
	EnvSMTPClientSecret = "RMAD_SMTP_CLIENT_SECRET"
	// EnvLinkSecret holds the key that signs estimate links when http.link_secret_file is empty.
	EnvLinkSecret = "RMAD_LINK_SECRET"
)

// EnvIMAPClientSecret is the variable holding the OAuth client secret of the mailbox named name.
func EnvIMAPClientSecret(name string) string { return "RMAD_IMAP_" + envName(name) + "_CLIENT_SECRET" }

// EnvIMAPPassword is the variable holding the password of the mailbox named name.
func EnvIMAPPassword(name string) string { return "RMAD_IMAP_" + envName(name) + "_PASSWORD" }

// EnvWebhookSecret is the variable holding the whsec_ secret(s) of the webhook source named name.
func EnvWebhookSecret(name string) string { return "RMAD_WEBHOOK_" + envName(name) + "_SECRET" }

func envName(name string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '_'
	}, name)
}

const webhookSecretPrefix = "whsec_"

func loadSecrets(cfg *Config, p *problems) {
	cfg.Redis.Password, _ = readSecret(p, "redis.password_file", cfg.Redis.PasswordFile, EnvRedisPassword, false)
	cfg.HTTP.LinkSecret, _ = readSecret(p, "http.link_secret_file", cfg.HTTP.LinkSecretFile, EnvLinkSecret, false)

	for i := range cfg.IMAP {
		m := &cfg.IMAP[i]
		if !nameRE.MatchString(m.Name) && m.PasswordFile == "" && (m.OAuth2 == nil || m.OAuth2.ClientSecretFile == "") {
			continue // no variable name to look for; the bad name is reported already
		}
		path := indexPath("imap", i)
		if UsesOAuth(m.Auth) {
			loadOAuthSecrets(p, path, m.OAuth2, EnvIMAPClientSecret(m.Name))
			continue
		}
		m.Password, _ = readSecret(p, path+".password_file", m.PasswordFile, EnvIMAPPassword(m.Name), true)
	}

	if UsesOAuth(cfg.SMTP.Auth) {
		loadOAuthSecrets(p, "smtp", cfg.SMTP.OAuth2, EnvSMTPClientSecret)
	} else {
		// A password without a user name would never be sent; one is needed only to log in.
		cfg.SMTP.Password, _ = readSecret(p, "smtp.password_file", cfg.SMTP.PasswordFile, EnvSMTPPassword, cfg.SMTP.Username != "")
	}

	for i := range cfg.Webhooks.Sources {
		w := &cfg.Webhooks.Sources[i]
		if !nameRE.MatchString(w.Name) && w.SecretFile == "" {
			continue
		}
		key := indexPath("webhooks.sources", i) + ".secret_file"
		raw, from := readSecret(p, key, w.SecretFile, EnvWebhookSecret(w.Name), true)
		if raw == "" {
			continue
		}
		// Several secrets (one per line) let a sender rotate its key without downtime.
		for n, s := range strings.Fields(raw.Reveal()) {
			b64, ok := strings.CutPrefix(s, webhookSecretPrefix)
			if !ok {
				p.at(key, "secret %d in %s does not start with %s", n+1, from, webhookSecretPrefix)
				continue
			}
			if dec, err := base64.StdEncoding.DecodeString(b64); err != nil || len(dec) == 0 {
				p.at(key, "secret %d in %s is not %s followed by base64", n+1, from, webhookSecretPrefix)
				continue
			}
			w.Secrets = append(w.Secrets, Secret(s))
		}
	}
}

// loadOAuthSecrets reads the client secret (always needed) and the refresh token (when its file
// is named: it chooses the refresh-token grant) of the oauth2 block at path.
func loadOAuthSecrets(p *problems, path string, o *OAuth2, env string) {
	if o == nil {
		return // reported by validate
	}
	o.ClientSecret, _ = readSecret(p, path+".oauth2.client_secret_file", o.ClientSecretFile, env, true)
	if o.RefreshTokenFile != "" {
		o.RefreshToken, _ = readSecret(p, path+".oauth2.refresh_token_file", o.RefreshTokenFile, "", true)
	}
}

// readSecret returns the secret from file, or else from the environment variable env, and
// says where it came from. A required secret found nowhere, or an unreadable or empty file, is
// a problem recorded at key.
func readSecret(p *problems, key, file, env string, required bool) (Secret, string) {
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			p.at(key, "cannot read secret file %s: %s", file, pathErrReason(err))
			return "", ""
		}
		s := strings.TrimRight(string(data), "\r\n")
		if s == "" {
			p.at(key, "secret file %s is empty", file)
			return "", ""
		}
		return Secret(s), file
	}
	if env == "" {
		return "", "" // a file-only secret (refresh_token_file) that is not named
	}
	if s := os.Getenv(env); s != "" {
		return Secret(strings.TrimRight(s, "\r\n")), "$" + env
	}
	if required {
		p.at(key, "missing: set %s to a file holding the secret, or the environment variable %s", lastKey(key), env)
	}
	return "", ""
}

func lastKey(path string) string { return path[strings.LastIndexByte(path, '.')+1:] }

// pathErrReason drops the file name from an fs.PathError (the message names the file already).
func pathErrReason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// GoString keeps %#v from printing the secret.
func (s Secret) GoString() string { return `config.Secret("` + s.String() + `")` }

// MarshalText keeps JSON and YAML encoders (and so logs) from printing the secret.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
