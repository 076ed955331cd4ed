/*
 * tidsctl keygen NAME: a participant's (or hub's) identity: NAME.key holds
 * the secret (mode 0600, never overwritten), NAME.pub the public key the
 * hub operator registers.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tids/json.h"
#include "tidsctl.h"

static const char help[] =
	"usage: tidsctl keygen [--json] NAME\n"
	"Writes NAME.key (secret, mode 0600) and NAME.pub (public key, base64),\n"
	"and prints the public key (--json: {\"public_key\", \"key_file\", \"public_key_file\"}).\n"
	"Never overwrites an existing key.\n";

int tidsctl_keygen(int argc, char **argv)
{
	struct tids_identity id;
	char path[4096], pub[TIDS_KEY_BASE64_BYTES], err[512];
	bool json = false;
	FILE *f;
	int fd, rc = EXIT_OK;

	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(help, stdout);
		return EXIT_OK;
	}
	if (argc == 3 && strcmp(argv[1], "--json") == 0) {
		json = true;
		argv++;
		argc--;
	}
	if (argc != 2 || argv[1][0] == '-')
		return cli_usage(help);
	if (tids_identity_generate(&id) != 0)
		return cli_fail("cannot generate a key");
	snprintf(path, sizeof(path), "%s.key", argv[1]);
	if (tids_keyfile_write_identity(path, &id, err, sizeof(err)) != 0) {
		tids_identity_wipe(&id);
		return cli_fail("%s", err);
	}
	tids_key_to_base64(id.sign_pk, pub);
	tids_identity_wipe(&id);
	snprintf(path, sizeof(path), "%s.pub", argv[1]);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (f == NULL || fprintf(f, "%s\n", pub) < 0 || fclose(f) != 0)
		rc = cli_fail("%s: %s", path, strerror(errno));
	if (json) {
		struct tids_jw w;
		char keyfile[4096];

		snprintf(keyfile, sizeof(keyfile), "%s.key", argv[1]);
		cli_json_begin(&w);
		tids_jw_key(&w, "public_key");
		tids_jw_string(&w, pub);
		tids_jw_key(&w, "key_file");
		tids_jw_string(&w, keyfile);
		tids_jw_key(&w, "public_key_file");
		tids_jw_string(&w, path);
		return cli_json_end(&w) != EXIT_OK ? EXIT_FAIL : rc;
	}
	printf("%s\n", pub);
	return rc;
}
