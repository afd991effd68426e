/*
 * secret.h - reading the files that may hold credentials: the
 * configuration file (an inline password) and a relay's password_file.
 *
 * Each file is opened once and checked through that descriptor (fstat),
 * so the permission check applies to exactly the bytes that are read.
 * Reads are bounded, and stack buffers that saw file data are wiped.
 * Messages go into err; nothing is printed.
 */
#ifndef SENDMX_SECRET_H
#define SENDMX_SECRET_H

#include <stdbool.h>
#include <sys/types.h>

#include "status.h"
#include "util.h"

/* A config is a few hundred bytes; a password one line. */
#define SECRET_CONFIG_MAX_BYTES (1024 * 1024)
#define SECRET_PASSWORD_MAX 4096

/*
 * Appends the whole configuration file at path to text and sets *mode to
 * its st_mode, for the caller's own checks (an inline password needs a
 * file others cannot read).
 *
 * A missing file (ENOENT) is not an error when !explicit_path: *missing is
 * set, ST_OK is returned and text and *mode are left alone. Otherwise
 * ST_PERMFAIL with err naming path when the file cannot be opened or
 * read, is not a regular file, is writable by others (whoever can write
 * it can redirect mail and the log), or exceeds SECRET_CONFIG_MAX_BYTES.
 * text may hold part of the file after a failure: the caller wipes it.
 */
enum status secret_read_config(const char *path, bool explicit_path,
			       struct buf *text, mode_t *mode, bool *missing,
			       struct err *err);

/*
 * Reads the password from the first line of file into *out (allocated;
 * the caller wipes and frees it): the bytes before the first CR, LF or
 * NUL among the first SECRET_PASSWORD_MAX bytes returned by one read.
 *
 * ST_PERMFAIL, with err starting "where: " (the config's file:line), when
 * the file cannot be opened or read, is not a regular file, is readable
 * or writable by others, or that first line is empty. *out is set only
 * on ST_OK.
 */
enum status secret_read_password_file(const char *file, char **out,
				      const char *where, struct err *err);

#endif
