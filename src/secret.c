/*
 * secret.c - reads the configuration and password files, each through one
 * descriptor so that the permission check applies to exactly the bytes
 * read (see secret.h).
 */
#include "ac_config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "secret.h"

/*
 * Reads the whole file through one descriptor and reports its mode. A
 * missing default file is not an error: *missing is set instead.
 */
enum status secret_read_config(const char *path, bool explicit_path,
			       struct buf *text, mode_t *mode, bool *missing,
			       struct err *err)
{
	enum status st = ST_PERMFAIL;
	struct stat sb;
	char chunk[4096];
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT && !explicit_path) {
			*missing = true;
			return ST_OK;
		}
		err_set(err, "cannot read %s: %s", path, strerror(errno));
		return ST_PERMFAIL;
	}
	if (fstat(fd, &sb) < 0) {
		err_set(err, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		err_set(err, "cannot read %s: not a regular file", path);
		goto out;
	}
	/* Whoever can write the file can redirect mail and the log. */
	if (sb.st_mode & S_IWOTH) {
		err_set(err, "%s is writable by others (mode %04o); "
			"chmod o-w %s", path, (unsigned)(sb.st_mode & 07777),
			path);
		goto out;
	}
	*mode = sb.st_mode;
	for (;;) {
		n = read(fd, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_set(err, "cannot read %s: %s", path,
				strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (text->len + (size_t)n > SECRET_CONFIG_MAX_BYTES) {
			err_set(err, "%s: file too large for a configuration",
				path);
			goto out;
		}
		buf_append(text, chunk, (size_t)n);
	}
	st = ST_OK;
out:
	explicit_bzero(chunk, sizeof chunk);
	close(fd);
	return st;
}

/* The first line of file, which others must not be able to read or write. */
enum status secret_read_password_file(const char *file, char **out,
				      const char *where, struct err *err)
{
	enum status st = ST_PERMFAIL;
	char data[SECRET_PASSWORD_MAX + 1];
	struct stat sb;
	ssize_t n;
	size_t len;
	int fd;

	fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		err_set(err, "%s: cannot read password_file %s: %s", where,
			file, strerror(errno));
		return ST_PERMFAIL;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		err_set(err, "%s: password_file %s is not a regular file",
			where, file);
		goto out;
	}
	if (sb.st_mode & (S_IROTH | S_IWOTH)) {
		err_set(err, "%s: password_file %s is %s by others (mode %04o); "
			"chmod o-rwx %s", where, file,
			(sb.st_mode & S_IROTH) ? "readable" : "writable",
			(unsigned)(sb.st_mode & 07777), file);
		goto out;
	}
	do
		n = read(fd, data, SECRET_PASSWORD_MAX);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		err_set(err, "%s: cannot read password_file %s: %s", where,
			file, strerror(errno));
		goto out;
	}
	data[n] = '\0';
	len = strcspn(data, "\r\n");
	if (len == 0 || memchr(data, '\0', len)) {
		err_set(err, "%s: password_file %s: the first line must hold "
			"the password", where, file);
		goto out;
	}
	*out = xstrndup(data, len);
	st = ST_OK;
out:
	explicit_bzero(data, sizeof data);
	close(fd);
	return st;
}
