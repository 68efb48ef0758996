/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * POSIX metadata of objects: struct store_info / listing entries to
 * struct stat, and the x-amz-meta-* headers (mode, uid, gid, mtime, ctime,
 * atime, xattr) as s3fs-fuse writes them. Pure: no I/O, no locks.
 */
#ifndef obsmount_META_H
#define obsmount_META_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "store.h"
#include "util/compiler.h"

/* Metadata names (x-amz-meta-NAME), as s3fs-fuse uses them. */
#define META_MODE "mode"
#define META_UID "uid"
#define META_GID "gid"
#define META_MTIME "mtime"
#define META_CTIME "ctime"
#define META_ATIME "atime"
#define META_XATTR "xattr"
/*
 * Device number of a character or block device (decimal, as Linux's
 * dev_t). s3fs-fuse stores none, so its devices read as device 0.
 */
#define META_RDEV "rdev"
/* Content type s3fs gives directory objects. */
#define META_DIR_CONTENT_TYPE "application/x-directory"

/* Mount-wide rules for owners and permissions (uid=, gid=, umask=). */
struct meta_cfg {
	uid_t uid; /* owner when the object names none, or always if force_uid */
	gid_t gid;
	bool force_uid; /* uid= given: overrides the metadata */
	bool force_gid;
	mode_t umask; /* cleared from every mode when has_umask */
	bool has_umask;
};

/*
 * The stat of object @key from HEAD @info (both borrowed). A key ending in
 * '/', a mode of type S_IFDIR or the content type application/x-directory
 * make a directory; no mode (or one of no known type): a 0644 regular file
 * (0755 directory). FIFOs, devices (st_rdev from META_RDEV) and sockets
 * keep their type, as s3fs-fuse stores them: an empty object. mtime
 * comes from the metadata, else LastModified. st_nlink, st_blocks and
 * st_blksize are filled.
 */
void meta_to_stat(const struct meta_cfg *mc, const char *key, const struct store_info *info,
		  struct stat *st);

/*
 * The stat of a listing entry whose metadata is unknown: a regular file
 * (directory for a key ending in '/') with the listed size and
 * LastModified, default mode and owner.
 */
void meta_entry_to_stat(const struct meta_cfg *mc, const struct store_entry *e, struct stat *st);

/* A directory without an object of its own (common prefix, mount root). */
void meta_dir_stat(const struct meta_cfg *mc, time_t mtime, struct stat *st);

/*
 * Fill the empty @m with metadata for a new object: mode (type bits
 * included), owner and all three times set to @now. Returns 0 or -errno
 * (store_meta_set()).
 */
int meta_init(struct store_meta *m, mode_t mode, uid_t uid, gid_t gid,
	      const struct timespec *now) MUST_CHECK;

/* Set the mode (type bits included) in @m. 0 or -errno. */
int meta_set_mode(struct store_meta *m, mode_t mode) MUST_CHECK;
/*
 * Is @mode of a type meta_to_stat() keeps (regular file, directory,
 * symbolic link, FIFO, character or block device, socket)?
 */
bool meta_is_known_type(mode_t mode);

/* Set the device number of a character or block device. 0 or -errno. */
int meta_set_rdev(struct store_meta *m, dev_t rdev) MUST_CHECK;

/* Set the owner; (uid_t)-1 / (gid_t)-1 leave that part unchanged. 0 or -errno. */
int meta_set_owner(struct store_meta *m, uid_t uid, gid_t gid) MUST_CHECK;
/* Set time @name (META_MTIME, META_CTIME or META_ATIME). 0 or -errno. */
int meta_set_time(struct store_meta *m, const char *name, const struct timespec *ts) MUST_CHECK;

/*
 * Parse a time value: decimal seconds with an optional fraction
 * ("1700000000", "1700000000.5", "1700000000.123456789"). 0 or -EINVAL.
 */
int meta_parse_time(const char *s, struct timespec *out) MUST_CHECK;
/* Format a time as meta_set_time() stores it; @out holds >= 32 bytes. */
void meta_format_time(const struct timespec *ts, char out[32]);

/* Remove entry @name from @m; absent is not an error. */
void meta_remove(struct store_meta *m, const char *name);

/*
 * Extended attributes, all kept in the one header x-amz-meta-xattr as
 * s3fs-fuse does: the percent-encoded text of a JSON object whose keys are
 * the attribute names and whose values are the base64 of the attribute
 * values, {"user.a":"dmFsdWU="}. The whole user metadata of an object is
 * limited (2 KiB on AWS), so only small attributes fit.
 */

/* Maximum length of an attribute value we accept. */
#define META_XATTR_VALUE_MAX 1024

/*
 * getxattr: copy the value of @name into @value (@size bytes; 0 asks for
 * the length only). *len receives the value length. 0, -ENODATA, -ERANGE
 * (@size too small) or -EIO (the header is malformed).
 */
int meta_xattr_get(const struct store_meta *m, const char *name, void *value, size_t size,
		   size_t *len) MUST_CHECK;

/*
 * setxattr: set @name to @size bytes of @value in @m. @flags: 0,
 * XATTR_CREATE (-EEXIST if present) or XATTR_REPLACE (-ENODATA if absent).
 * 0, those, -E2BIG (value too long), -ENOMEM or -EIO.
 */
int meta_xattr_set(struct store_meta *m, const char *name, const void *value, size_t size,
		   int flags) MUST_CHECK;

/* removexattr: 0, -ENODATA, -ENOMEM or -EIO. */
int meta_xattr_remove(struct store_meta *m, const char *name) MUST_CHECK;

/*
 * listxattr: the NUL-terminated names into @list (@size bytes; 0 asks for
 * the length only); *len receives the total length. 0, -ERANGE or -EIO.
 */
int meta_xattr_list(const struct store_meta *m, char *list, size_t size, size_t *len) MUST_CHECK;

#endif
