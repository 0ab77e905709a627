// SPDX-License-Identifier: Apache-2.0
/*
 * iommufd-helper: a small static program that runs the real iommufd, LUO and kexec UAPI on behalf
 * of a host process, one text request per line. As PID 1 of the lane's initramfs it mounts the
 * pseudo filesystems itself and serves the virtio-serial port named "hitless" (/dev/vportNpM);
 * started any other way it serves stdin/stdout (handy for trying the parser on a host).
 *
 * Protocol (docs/real-kernel-lane.md has the full table):
 *   request:  <tag> <command> [arg ...]          tag: any token without spaces, echoed back
 *   response: <tag> ok [key=value ...]
 *             <tag> err <ERRNO-NAME> <what failed>
 * Numbers are accepted in decimal or 0x-hex; addresses (iova, uptr, lengths) are answered in hex.
 * "auto" as an IOVA lets the kernel choose (no IOMMU_IOAS_MAP_FIXED_IOVA).
 *
 * Built by scripts/kernel/lane.sh with gcc -static against the freshly built kernel's UAPI headers
 * (obj/usr/include) and drivers/iommu/iommufd/iommufd_test.h (the selftest mock's IOMMU_TEST_CMD).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <linux/iommufd.h>
#include <linux/liveupdate.h>
#include <linux/vfio.h>
#include <linux/reboot.h>
#include "iommufd_test.h"

#define MAX_ARGS 32
#define MAX_LINE (4 << 20)

static int iommufd = -1;
static int luo_fd = -1;
static int out_fd = 1;
static int generation = 1;
static char cmdline[4096];

/* ----------------------------------------------------------------------------------------------
 * Responses
 * -------------------------------------------------------------------------------------------- */

static char *resp;
static size_t resp_len, resp_cap;

static void resp_add(const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int n = vsnprintf(resp + resp_len, resp_cap - resp_len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (resp_len + (size_t)n < resp_cap) {
			resp_len += n;
			return;
		}
		resp_cap = (resp_cap + n) * 2;
		resp = realloc(resp, resp_cap);
		if (!resp)
			abort();
	}
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return; /* host gone: nothing sensible to do */
		}
		p += w;
		n -= w;
	}
}

static void flush_resp(void)
{
	resp_add("\n");
	write_all(out_fd, resp, resp_len);
	resp_len = 0;
}

static const char *errname(int e)
{
	const char *n = strerrorname_np(e);
	static char buf[16];
	if (n)
		return n;
	snprintf(buf, sizeof(buf), "E%d", e);
	return buf;
}

/* Each handler returns 0 (having added " key=value" pairs) or an errno; *what names the call. */
typedef int (*handler_fn)(int argc, char **argv, const char **what);

/* ----------------------------------------------------------------------------------------------
 * Argument parsing
 * -------------------------------------------------------------------------------------------- */

static int num(const char *s, __u64 *out)
{
	char *end;
	if (!s || !*s)
		return EINVAL;
	errno = 0;
	*out = strtoull(s, &end, 0);
	if (errno || *end)
		return EINVAL;
	return 0;
}

static int num32(const char *s, uint32_t *out)
{
	__u64 v;
	if (num(s, &v) || v > UINT32_MAX)
		return EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* "key=value" options after the positional arguments. */
static const char *opt(int argc, char **argv, int from, const char *key)
{
	size_t kl = strlen(key);
	for (int i = from; i < argc; i++)
		if (!strncmp(argv[i], key, kl) && argv[i][kl] == '=')
			return argv[i] + kl + 1;
	return NULL;
}

/* prot=rw|r|w (default rw) → IOMMU_IOAS_MAP_{READABLE,WRITEABLE}, ORed into *flags */
static int prot_flags(int argc, char **argv, int from, uint32_t *flags)
{
	const char *p = opt(argc, argv, from, "prot");
	if (!p)
		p = "rw";
	for (; *p; p++) {
		if (*p == 'r')
			*flags |= IOMMU_IOAS_MAP_READABLE;
		else if (*p == 'w')
			*flags |= IOMMU_IOAS_MAP_WRITEABLE;
		else if (*p != '-')
			return EINVAL;
	}
	return 0;
}

/* IOVA argument: a number (FIXED_IOVA) or "auto". */
static int iova_arg(const char *s, __u64 *iova, uint32_t *flags)
{
	if (!strcmp(s, "auto")) {
		*iova = 0;
		return 0;
	}
	*flags |= IOMMU_IOAS_MAP_FIXED_IOVA;
	return num(s, iova);
}

#define NEED(n)                          \
	do {                             \
		if (argc < (n)) {        \
			*what = "usage"; \
			return EINVAL;   \
		}                        \
	} while (0)
#define ARG(fn, i, dst)                          \
	do {                                     \
		if (fn(argv[i], dst)) {          \
			*what = "argument " #dst; \
			return EINVAL;           \
		}                                \
	} while (0)

static int xioctl(int fd, unsigned long req, void *arg)
{
	if (fd < 0)
		return ENODEV;
	return ioctl(fd, req, arg) ? errno : 0;
}

/* ----------------------------------------------------------------------------------------------
 * iommufd
 * -------------------------------------------------------------------------------------------- */

static int h_ioas_alloc(int argc, char **argv, const char **what)
{
	struct iommu_ioas_alloc c = { .size = sizeof(c) };
	*what = "IOMMU_IOAS_ALLOC";
	int e = xioctl(iommufd, IOMMU_IOAS_ALLOC, &c);
	if (!e)
		resp_add(" id=%u", c.out_ioas_id);
	return e;
}

static int h_destroy(int argc, char **argv, const char **what)
{
	struct iommu_destroy c = { .size = sizeof(c) };
	NEED(2);
	ARG(num32, 1, &c.id);
	*what = "IOMMU_DESTROY";
	return xioctl(iommufd, IOMMU_DESTROY, &c);
}

/* ioas_map IOAS IOVA|auto LENGTH [prot=rw] [uptr=ADDR]: anonymous memory unless uptr= is given. */
static int h_ioas_map(int argc, char **argv, const char **what)
{
	struct iommu_ioas_map c = { .size = sizeof(c) };
	__u64 uptr = 0;
	const char *u;
	NEED(4);
	ARG(num32, 1, &c.ioas_id);
	if (iova_arg(argv[2], &c.iova, &c.flags)) {
		*what = "argument iova";
		return EINVAL;
	}
	ARG(num, 3, &c.length);
	if (prot_flags(argc, argv, 4, &c.flags)) {
		*what = "argument prot";
		return EINVAL;
	}
	if ((u = opt(argc, argv, 4, "uptr"))) {
		if (num(u, &uptr)) {
			*what = "argument uptr";
			return EINVAL;
		}
	} else if (c.length) {
		void *p = mmap(NULL, c.length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			*what = "mmap";
			return errno;
		}
		memset(p, 0xa5, c.length); /* real pages, not the shared zero page */
		uptr = (uintptr_t)p;
	}
	c.user_va = uptr;
	*what = "IOMMU_IOAS_MAP";
	int e = xioctl(iommufd, IOMMU_IOAS_MAP, &c);
	if (!e)
		resp_add(" iova=0x%" "llx" " uptr=0x%" "llx", (__u64)c.iova, uptr);
	else if (!opt(argc, argv, 4, "uptr") && uptr)
		munmap((void *)(uintptr_t)uptr, c.length);
	return e;
}

/* ioas_map_file IOAS FD START LENGTH IOVA|auto [prot=rw] */
static int h_ioas_map_file(int argc, char **argv, const char **what)
{
	struct iommu_ioas_map_file c = { .size = sizeof(c) };
	uint32_t fd;
	NEED(6);
	ARG(num32, 1, &c.ioas_id);
	ARG(num32, 2, &fd);
	c.fd = (int32_t)fd;
	ARG(num, 3, &c.start);
	ARG(num, 4, &c.length);
	if (iova_arg(argv[5], &c.iova, &c.flags)) {
		*what = "argument iova";
		return EINVAL;
	}
	if (prot_flags(argc, argv, 6, &c.flags)) {
		*what = "argument prot";
		return EINVAL;
	}
	*what = "IOMMU_IOAS_MAP_FILE";
	int e = xioctl(iommufd, IOMMU_IOAS_MAP_FILE, &c);
	if (!e)
		resp_add(" iova=0x%" "llx", (__u64)c.iova);
	return e;
}

/* ioas_unmap IOAS IOVA LENGTH */
static int h_ioas_unmap(int argc, char **argv, const char **what)
{
	struct iommu_ioas_unmap c = { .size = sizeof(c) };
	NEED(4);
	ARG(num32, 1, &c.ioas_id);
	ARG(num, 2, &c.iova);
	ARG(num, 3, &c.length);
	*what = "IOMMU_IOAS_UNMAP";
	int e = xioctl(iommufd, IOMMU_IOAS_UNMAP, &c);
	if (!e)
		resp_add(" length=0x%" "llx", (__u64)c.length);
	return e;
}

/* ioas_iova_ranges IOAS → alignment=0x.. ranges=START-LAST,... */
static int h_ioas_iova_ranges(int argc, char **argv, const char **what)
{
	struct iommu_ioas_iova_ranges c = { .size = sizeof(c) };
	struct iommu_iova_range r[64];
	NEED(2);
	ARG(num32, 1, &c.ioas_id);
	c.num_iovas = 64;
	c.allowed_iovas = (uintptr_t)r;
	*what = "IOMMU_IOAS_IOVA_RANGES";
	int e = xioctl(iommufd, IOMMU_IOAS_IOVA_RANGES, &c);
	if (e)
		return e;
	resp_add(" alignment=0x%" "llx" " ranges=", (__u64)c.out_iova_alignment);
	for (uint32_t i = 0; i < c.num_iovas; i++)
		resp_add("%s0x%" "llx" "-0x%" "llx", i ? "," : "", (__u64)r[i].start, (__u64)r[i].last);
	return 0;
}

/* ioas_allow_iovas IOAS START-LAST[,START-LAST...]  ("-" for none) */
static int h_ioas_allow_iovas(int argc, char **argv, const char **what)
{
	struct iommu_ioas_allow_iovas c = { .size = sizeof(c) };
	struct iommu_iova_range r[64];
	uint32_t n = 0;
	NEED(3);
	ARG(num32, 1, &c.ioas_id);
	if (strcmp(argv[2], "-")) {
		char *save, *s = argv[2];
		for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			char *dash = strchr(tok + 1, '-');
			if (!dash || n == 64) {
				*what = "argument ranges";
				return EINVAL;
			}
			*dash = 0;
			if (num(tok, &r[n].start) || num(dash + 1, &r[n].last)) {
				*what = "argument ranges";
				return EINVAL;
			}
			n++;
		}
	}
	c.num_iovas = n;
	c.allowed_iovas = (uintptr_t)r;
	*what = "IOMMU_IOAS_ALLOW_IOVAS";
	return xioctl(iommufd, IOMMU_IOAS_ALLOW_IOVAS, &c);
}

/* ioas_copy DST SRC SRC_IOVA LENGTH DST_IOVA|auto [prot=rw] */
static int h_ioas_copy(int argc, char **argv, const char **what)
{
	struct iommu_ioas_copy c = { .size = sizeof(c) };
	NEED(6);
	ARG(num32, 1, &c.dst_ioas_id);
	ARG(num32, 2, &c.src_ioas_id);
	ARG(num, 3, &c.src_iova);
	ARG(num, 4, &c.length);
	if (iova_arg(argv[5], &c.dst_iova, &c.flags)) {
		*what = "argument dst_iova";
		return EINVAL;
	}
	if (prot_flags(argc, argv, 6, &c.flags)) {
		*what = "argument prot";
		return EINVAL;
	}
	*what = "IOMMU_IOAS_COPY";
	int e = xioctl(iommufd, IOMMU_IOAS_COPY, &c);
	if (!e)
		resp_add(" iova=0x%" "llx", (__u64)c.dst_iova);
	return e;
}

/* hwpt_alloc DEV_ID PT_ID [flags=N] */
static int h_hwpt_alloc(int argc, char **argv, const char **what)
{
	struct iommu_hwpt_alloc c = { .size = sizeof(c) };
	const char *f;
	NEED(3);
	ARG(num32, 1, &c.dev_id);
	ARG(num32, 2, &c.pt_id);
	if ((f = opt(argc, argv, 3, "flags")) && num32(f, &c.flags)) {
		*what = "argument flags";
		return EINVAL;
	}
	*what = "IOMMU_HWPT_ALLOC";
	int e = xioctl(iommufd, IOMMU_HWPT_ALLOC, &c);
	if (!e)
		resp_add(" id=%u", c.out_hwpt_id);
	return e;
}

/* option IOAS_ID|0 huge_pages|rlimit_mode [set=N] → value=N */
static int h_option(int argc, char **argv, const char **what)
{
	struct iommu_option c = { .size = sizeof(c) };
	const char *set;
	NEED(3);
	ARG(num32, 1, &c.object_id);
	if (!strcmp(argv[2], "huge_pages"))
		c.option_id = IOMMU_OPTION_HUGE_PAGES;
	else if (!strcmp(argv[2], "rlimit_mode"))
		c.option_id = IOMMU_OPTION_RLIMIT_MODE;
	else {
		*what = "argument option";
		return EINVAL;
	}
	if ((set = opt(argc, argv, 3, "set"))) {
		c.op = IOMMU_OPTION_OP_SET;
		if (num(set, (__u64 *)&c.val64)) {
			*what = "argument set";
			return EINVAL;
		}
	} else {
		c.op = IOMMU_OPTION_OP_GET;
	}
	*what = "IOMMU_OPTION";
	int e = xioctl(iommufd, IOMMU_OPTION, &c);
	if (!e)
		resp_add(" value=%" "llu", (__u64)c.val64);
	return e;
}

/* ---- the selftest mock (IOMMU_TEST_CMD) ---- */

static int test_cmd(struct iommu_test_cmd *c)
{
	c->size = sizeof(*c);
	return xioctl(iommufd, IOMMU_TEST_CMD, c);
}

/* mock_domain PT_ID [flags=N] → stdev= hwpt= idev=  (a mock device bound and attached to PT_ID) */
static int h_mock_domain(int argc, char **argv, const char **what)
{
	struct iommu_test_cmd c = { .op = IOMMU_TEST_OP_MOCK_DOMAIN };
	const char *f;
	NEED(2);
	ARG(num32, 1, &c.id);
	if ((f = opt(argc, argv, 2, "flags"))) {
		c.op = IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS;
		if (num32(f, &c.mock_domain_flags.dev_flags)) {
			*what = "argument flags";
			return EINVAL;
		}
	}
	*what = "IOMMU_TEST_OP_MOCK_DOMAIN";
	int e = test_cmd(&c);
	if (!e)
		resp_add(" stdev=%u hwpt=%u idev=%u", c.mock_domain.out_stdev_id, c.mock_domain.out_hwpt_id,
			 c.mock_domain.out_idev_id);
	return e;
}

/* mock_domain_replace STDEV_ID PT_ID → pt=ID (the HWPT now attached) */
static int h_mock_domain_replace(int argc, char **argv, const char **what)
{
	struct iommu_test_cmd c = { .op = IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE };
	NEED(3);
	ARG(num32, 1, &c.id);
	ARG(num32, 2, &c.mock_domain_replace.pt_id);
	*what = "IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE";
	int e = test_cmd(&c);
	if (!e)
		resp_add(" pt=%u", c.mock_domain_replace.pt_id);
	return e;
}

/* md_check_map HWPT_ID IOVA LENGTH UPTR: does the mock "hardware" map IOVA→the page behind UPTR? */
static int h_md_check_map(int argc, char **argv, const char **what)
{
	struct iommu_test_cmd c = { .op = IOMMU_TEST_OP_MD_CHECK_MAP };
	NEED(5);
	ARG(num32, 1, &c.id);
	ARG(num, 2, &c.check_map.iova);
	ARG(num, 3, &c.check_map.length);
	ARG(num, 4, &c.check_map.uptr);
	*what = "IOMMU_TEST_OP_MD_CHECK_MAP";
	return test_cmd(&c);
}

/* md_check_refs UPTR LENGTH REFS */
static int h_md_check_refs(int argc, char **argv, const char **what)
{
	struct iommu_test_cmd c = { .op = IOMMU_TEST_OP_MD_CHECK_REFS };
	NEED(4);
	ARG(num, 1, &c.check_refs.uptr);
	ARG(num, 2, &c.check_refs.length);
	ARG(num32, 3, &c.check_refs.refs);
	*what = "IOMMU_TEST_OP_MD_CHECK_REFS";
	return test_cmd(&c);
}

/* add_reserved IOAS_ID START LENGTH */
static int h_add_reserved(int argc, char **argv, const char **what)
{
	struct iommu_test_cmd c = { .op = IOMMU_TEST_OP_ADD_RESERVED };
	NEED(4);
	ARG(num32, 1, &c.id);
	ARG(num, 2, &c.add_reserved.start);
	ARG(num, 3, &c.add_reserved.length);
	*what = "IOMMU_TEST_OP_ADD_RESERVED";
	return test_cmd(&c);
}

/* iommufd_reopen: closes /dev/iommu and opens it again → fd=. Every object of the old context
 * (IOAS, HWPT, mock devices, their pins) dies with the old fd; memfds and LUO sessions stay. The
 * contract suite uses it to give each test a fresh context in one guest. */
static int h_iommufd_reopen(int argc, char **argv, const char **what)
{
	*what = "open /dev/iommu";
	if (iommufd >= 0)
		close(iommufd);
	iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	if (iommufd < 0)
		return errno;
	resp_add(" fd=%d", iommufd);
	return 0;
}

/* ---- VFIO cdev (real hosts: /dev/vfio/devices/vfioN); include/uapi/linux/vfio.h ---- */

/* vfio_open PATH → fd= (the device cdev; nothing is bound yet) */
static int h_vfio_open(int argc, char **argv, const char **what)
{
	NEED(2);
	*what = "open vfio cdev";
	int fd = open(argv[1], O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return errno;
	resp_add(" fd=%d", fd);
	return 0;
}

/* vfio_bind FD → devid= (VFIO_DEVICE_BIND_IOMMUFD to this helper's iommufd) */
static int h_vfio_bind(int argc, char **argv, const char **what)
{
	struct vfio_device_bind_iommufd c = { .argsz = sizeof(c), .iommufd = iommufd };
	uint32_t fd;
	NEED(2);
	ARG(num32, 1, &fd);
	*what = "VFIO_DEVICE_BIND_IOMMUFD";
	if (iommufd < 0)
		return ENODEV;
	int e = xioctl((int)fd, VFIO_DEVICE_BIND_IOMMUFD, &c);
	if (!e)
		resp_add(" devid=%u", c.out_devid);
	return e;
}

/* vfio_attach FD PT_ID → pt= (VFIO_DEVICE_ATTACH_IOMMUFD_PT; on an attached device the kernel replaces) */
static int h_vfio_attach(int argc, char **argv, const char **what)
{
	struct vfio_device_attach_iommufd_pt c = { .argsz = sizeof(c) };
	uint32_t fd;
	NEED(3);
	ARG(num32, 1, &fd);
	ARG(num32, 2, &c.pt_id);
	*what = "VFIO_DEVICE_ATTACH_IOMMUFD_PT";
	int e = xioctl((int)fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &c);
	if (!e)
		resp_add(" pt=%u", c.pt_id);
	return e;
}

/* vfio_detach FD (VFIO_DEVICE_DETACH_IOMMUFD_PT: DMA blocked) */
static int h_vfio_detach(int argc, char **argv, const char **what)
{
	struct vfio_device_detach_iommufd_pt c = { .argsz = sizeof(c) };
	uint32_t fd;
	NEED(2);
	ARG(num32, 1, &fd);
	*what = "VFIO_DEVICE_DETACH_IOMMUFD_PT";
	return xioctl((int)fd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &c);
}

/* ----------------------------------------------------------------------------------------------
 * Memory: memfds, mappings, contents
 * -------------------------------------------------------------------------------------------- */

/* memfd_create NAME SIZE → fd= uptr= (a MAP_SHARED mapping of the whole file, for MD_CHECK_MAP) */
static int h_memfd_create(int argc, char **argv, const char **what)
{
	__u64 size;
	NEED(3);
	ARG(num, 2, &size);
	*what = "memfd_create";
	int fd = memfd_create(argv[1], MFD_ALLOW_SEALING);
	if (fd < 0)
		return errno;
	*what = "ftruncate";
	if (ftruncate(fd, (off_t)size)) {
		int e = errno;
		close(fd);
		return e;
	}
	void *p = NULL;
	if (size) {
		*what = "mmap";
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED) {
			int e = errno;
			close(fd);
			return e;
		}
	}
	resp_add(" fd=%d uptr=0x%" "llx", fd, (__u64)(uintptr_t)p);
	return 0;
}

/* mmap FD OFFSET LENGTH → uptr=  (MAP_SHARED, read/write) */
static int h_mmap(int argc, char **argv, const char **what)
{
	uint32_t fd;
	__u64 off, len;
	NEED(4);
	ARG(num32, 1, &fd);
	ARG(num, 2, &off);
	ARG(num, 3, &len);
	*what = "mmap";
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, (int)fd, (off_t)off);
	if (p == MAP_FAILED)
		return errno;
	resp_add(" uptr=0x%" "llx", (__u64)(uintptr_t)p);
	return 0;
}

static int h_munmap(int argc, char **argv, const char **what)
{
	__u64 p, len;
	NEED(3);
	ARG(num, 1, &p);
	ARG(num, 2, &len);
	*what = "munmap";
	return munmap((void *)(uintptr_t)p, len) ? errno : 0;
}

static int h_close(int argc, char **argv, const char **what)
{
	uint32_t fd;
	NEED(2);
	ARG(num32, 1, &fd);
	*what = "close";
	if ((int)fd == luo_fd)
		luo_fd = -1;
	if ((int)fd == iommufd)
		iommufd = -1;
	return close((int)fd) ? errno : 0;
}

/* fd_size FD → size= */
static int h_fd_size(int argc, char **argv, const char **what)
{
	uint32_t fd;
	struct stat st;
	NEED(2);
	ARG(num32, 1, &fd);
	*what = "fstat";
	if (fstat((int)fd, &st))
		return errno;
	resp_add(" size=%" "llu", (__u64)st.st_size);
	return 0;
}

static int unhex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* fd_write FD OFFSET HEXBYTES → written= */
static int h_fd_write(int argc, char **argv, const char **what)
{
	uint32_t fd;
	__u64 off;
	NEED(4);
	ARG(num32, 1, &fd);
	ARG(num, 2, &off);
	size_t hl = strlen(argv[3]);
	if (hl % 2) {
		*what = "argument hex";
		return EINVAL;
	}
	unsigned char *buf = malloc(hl / 2 + 1);
	for (size_t i = 0; i < hl / 2; i++) {
		int hi = unhex(argv[3][2 * i]), lo = unhex(argv[3][2 * i + 1]);
		if (hi < 0 || lo < 0) {
			free(buf);
			*what = "argument hex";
			return EINVAL;
		}
		buf[i] = (unsigned char)(hi << 4 | lo);
	}
	*what = "pwrite";
	size_t done = 0;
	while (done < hl / 2) {
		ssize_t w = pwrite((int)fd, buf + done, hl / 2 - done, (off_t)(off + done));
		if (w <= 0) {
			int e = w < 0 ? errno : EIO;
			free(buf);
			return e;
		}
		done += w;
	}
	free(buf);
	resp_add(" written=%zu", done);
	return 0;
}

/* fd_read FD OFFSET LENGTH → hex= (short at end of file) */
static int h_fd_read(int argc, char **argv, const char **what)
{
	uint32_t fd;
	__u64 off, len;
	NEED(4);
	ARG(num32, 1, &fd);
	ARG(num, 2, &off);
	ARG(num, 3, &len);
	if (len > MAX_LINE / 4) {
		*what = "argument length";
		return E2BIG;
	}
	unsigned char *buf = malloc(len + 1);
	*what = "pread";
	size_t got = 0;
	while (got < len) {
		ssize_t r = pread((int)fd, buf + got, len - got, (off_t)(off + got));
		if (r < 0) {
			int e = errno;
			free(buf);
			return e;
		}
		if (r == 0)
			break;
		got += r;
	}
	resp_add(" hex=");
	for (size_t i = 0; i < got; i++)
		resp_add("%02x", buf[i]);
	free(buf);
	return 0;
}

/* Deterministic contents: byte i of a fill with SEED is splitmix-like(seed, i). */
static uint8_t pattern_byte(__u64 seed, __u64 i)
{
	__u64 z = seed * 0x9e3779b97f4a7c15ull + (i >> 3) * 0xbf58476d1ce4e5b9ull;
	z ^= z >> 31;
	z *= 0x94d049bb133111ebull;
	z ^= z >> 29;
	return (uint8_t)(z >> ((i & 7) * 8));
}

/* mem_fill UPTR LENGTH SEED */
static int h_mem_fill(int argc, char **argv, const char **what)
{
	__u64 p, len, seed;
	NEED(4);
	ARG(num, 1, &p);
	ARG(num, 2, &len);
	ARG(num, 3, &seed);
	uint8_t *b = (uint8_t *)(uintptr_t)p;
	for (__u64 i = 0; i < len; i++)
		b[i] = pattern_byte(seed, i);
	return 0;
}

/* mem_hash UPTR LENGTH → fnv1a=0x.. */
static int h_mem_hash(int argc, char **argv, const char **what)
{
	__u64 p, len, h = 0xcbf29ce484222325ull;
	NEED(3);
	ARG(num, 1, &p);
	ARG(num, 2, &len);
	const uint8_t *b = (const uint8_t *)(uintptr_t)p;
	for (__u64 i = 0; i < len; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	resp_add(" fnv1a=0x%016" "llx", h);
	return 0;
}

/* pfn UPTR → pfn=0x.. (from /proc/self/pagemap; root only; touches the page first) */
static int h_pfn(int argc, char **argv, const char **what)
{
	__u64 p, ent;
	NEED(2);
	ARG(num, 1, &p);
	volatile uint8_t *b = (volatile uint8_t *)(uintptr_t)p;
	(void)*b;
	*what = "open /proc/self/pagemap";
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	*what = "pread pagemap";
	long ps = sysconf(_SC_PAGESIZE);
	ssize_t r = pread(fd, &ent, sizeof(ent), (off_t)(p / ps * sizeof(ent)));
	int e = r == sizeof(ent) ? 0 : (r < 0 ? errno : EIO);
	close(fd);
	if (e)
		return e;
	if (!(ent >> 63)) {
		*what = "page not present";
		return ENXIO;
	}
	resp_add(" pfn=0x%" "llx", ent & ((1ull << 55) - 1));
	return 0;
}

/* ----------------------------------------------------------------------------------------------
 * LUO (/dev/liveupdate)
 * -------------------------------------------------------------------------------------------- */

static int luo_open(const char **what)
{
	if (luo_fd >= 0)
		return 0;
	*what = "open /dev/liveupdate";
	luo_fd = open("/dev/liveupdate", O_RDWR | O_CLOEXEC);
	return luo_fd < 0 ? errno : 0;
}

static int h_luo_open(int argc, char **argv, const char **what)
{
	int e = luo_open(what);
	if (!e)
		resp_add(" fd=%d", luo_fd);
	return e;
}

static int set_name(__u8 *dst, const char *name, const char **what)
{
	if (strlen(name) >= LIVEUPDATE_SESSION_NAME_LENGTH) {
		*what = "session name too long";
		return ENAMETOOLONG;
	}
	strncpy((char *)dst, name, LIVEUPDATE_SESSION_NAME_LENGTH);
	return 0;
}

/* luo_create_session NAME → fd= */
static int h_luo_create_session(int argc, char **argv, const char **what)
{
	struct liveupdate_ioctl_create_session c = { .size = sizeof(c) };
	NEED(2);
	int e = luo_open(what);
	if (e || (e = set_name(c.name, argv[1], what)))
		return e;
	*what = "LIVEUPDATE_IOCTL_CREATE_SESSION";
	e = xioctl(luo_fd, LIVEUPDATE_IOCTL_CREATE_SESSION, &c);
	if (!e)
		resp_add(" fd=%d", c.fd);
	return e;
}

/* luo_retrieve_session NAME → fd= */
static int h_luo_retrieve_session(int argc, char **argv, const char **what)
{
	struct liveupdate_ioctl_retrieve_session c = { .size = sizeof(c) };
	NEED(2);
	int e = luo_open(what);
	if (e || (e = set_name(c.name, argv[1], what)))
		return e;
	*what = "LIVEUPDATE_IOCTL_RETRIEVE_SESSION";
	e = xioctl(luo_fd, LIVEUPDATE_IOCTL_RETRIEVE_SESSION, &c);
	if (!e)
		resp_add(" fd=%d", c.fd);
	return e;
}

/* luo_preserve SESSION_FD FD TOKEN */
static int h_luo_preserve(int argc, char **argv, const char **what)
{
	struct liveupdate_session_preserve_fd c = { .size = sizeof(c) };
	uint32_t sfd, fd;
	NEED(4);
	ARG(num32, 1, &sfd);
	ARG(num32, 2, &fd);
	ARG(num, 3, (__u64 *)&c.token);
	c.fd = (int32_t)fd;
	*what = "LIVEUPDATE_SESSION_PRESERVE_FD";
	return xioctl((int)sfd, LIVEUPDATE_SESSION_PRESERVE_FD, &c);
}

/* luo_retrieve_fd SESSION_FD TOKEN → fd= */
static int h_luo_retrieve_fd(int argc, char **argv, const char **what)
{
	struct liveupdate_session_retrieve_fd c = { .size = sizeof(c) };
	uint32_t sfd;
	NEED(3);
	ARG(num32, 1, &sfd);
	ARG(num, 2, (__u64 *)&c.token);
	*what = "LIVEUPDATE_SESSION_RETRIEVE_FD";
	int e = xioctl((int)sfd, LIVEUPDATE_SESSION_RETRIEVE_FD, &c);
	if (!e)
		resp_add(" fd=%d", c.fd);
	return e;
}

/* luo_finish SESSION_FD */
static int h_luo_finish(int argc, char **argv, const char **what)
{
	struct liveupdate_session_finish c = { .size = sizeof(c) };
	uint32_t sfd;
	NEED(2);
	ARG(num32, 1, &sfd);
	*what = "LIVEUPDATE_SESSION_FINISH";
	return xioctl((int)sfd, LIVEUPDATE_SESSION_FINISH, &c);
}

/* luo_session_name SESSION_FD → name= */
static int h_luo_session_name(int argc, char **argv, const char **what)
{
	struct liveupdate_session_get_name c = { .size = sizeof(c) };
	uint32_t sfd;
	NEED(2);
	ARG(num32, 1, &sfd);
	*what = "LIVEUPDATE_SESSION_GET_NAME";
	int e = xioctl((int)sfd, LIVEUPDATE_SESSION_GET_NAME, &c);
	if (!e)
		resp_add(" name=%.*s", LIVEUPDATE_SESSION_NAME_LENGTH, (char *)c.name);
	return e;
}

/* ----------------------------------------------------------------------------------------------
 * kexec: rebuild this initramfs (newc cpio: /init + /kexec/bzImage) in a memfd and load it
 * -------------------------------------------------------------------------------------------- */

struct buf {
	uint8_t *p;
	size_t n, cap;
};

static void buf_put(struct buf *b, const void *d, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	memcpy(b->p + b->n, d, n);
	b->n += n;
}

static void buf_pad4(struct buf *b)
{
	static const uint8_t z[4];
	buf_put(b, z, (4 - b->n % 4) % 4);
}

static void cpio_entry(struct buf *b, unsigned ino, const char *name, unsigned mode, unsigned rmaj, unsigned rmin,
		       const void *data, size_t len)
{
	char h[111];
	snprintf(h, sizeof(h), "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", ino, mode, 0, 0, 1, 0,
		 (unsigned)len, 0, 0, rmaj, rmin, (unsigned)strlen(name) + 1, 0);
	buf_put(b, h, 110);
	buf_put(b, name, strlen(name) + 1);
	buf_pad4(b);
	if (len)
		buf_put(b, data, len);
	buf_pad4(b);
}

static int slurp(const char *path, struct buf *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	uint8_t tmp[65536];
	ssize_t r;
	while ((r = read(fd, tmp, sizeof(tmp))) > 0)
		buf_put(out, tmp, r);
	int e = r < 0 ? errno : 0;
	close(fd);
	return e;
}

static int kexec_loaded;

/* kexec_load [extra cmdline words...] → ms= initrd_bytes= cmdline="..." */
static int h_kexec_load(int argc, char **argv, const char **what)
{
	struct timespec t0, t1;
	struct buf self = { 0 }, cpio = { 0 };
	char cl[4096] = "";
	int e;
	clock_gettime(CLOCK_MONOTONIC, &t0);

	/* The same command line minus our generation counter, plus the next generation. */
	char copy[4096];
	snprintf(copy, sizeof(copy), "%s", cmdline);
	char *save;
	for (char *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		if (!strncmp(tok, "hitless.gen=", 12))
			continue;
		snprintf(cl + strlen(cl), sizeof(cl) - strlen(cl), "%s%s", *cl ? " " : "", tok);
	}
	for (int i = 1; i < argc; i++)
		snprintf(cl + strlen(cl), sizeof(cl) - strlen(cl), " %s", argv[i]);
	snprintf(cl + strlen(cl), sizeof(cl) - strlen(cl), " hitless.gen=%d", generation + 1);

	*what = "read /init";
	if ((e = slurp(getpid() == 1 ? "/init" : "/proc/self/exe", &self)))
		return e;
	cpio_entry(&cpio, 1, "dev", 040755, 0, 0, NULL, 0);
	cpio_entry(&cpio, 2, "dev/console", 020600, 5, 1, NULL, 0);
	cpio_entry(&cpio, 3, "proc", 040755, 0, 0, NULL, 0);
	cpio_entry(&cpio, 4, "sys", 040755, 0, 0, NULL, 0);
	cpio_entry(&cpio, 5, "kexec", 040755, 0, 0, NULL, 0);
	cpio_entry(&cpio, 6, "init", 0100755, 0, 0, self.p, self.n);
	free(self.p);
	/* The kernel image goes into the next initramfs too, so the next generation can kexec again. */
	struct buf kimg = { 0 };
	*what = "read /kexec/bzImage";
	if ((e = slurp("/kexec/bzImage", &kimg))) {
		free(cpio.p);
		return e;
	}
	cpio_entry(&cpio, 7, "kexec/bzImage", 0100644, 0, 0, kimg.p, kimg.n);
	free(kimg.p);
	cpio_entry(&cpio, 0, "TRAILER!!!", 0, 0, 0, NULL, 0);

	*what = "memfd_create initrd";
	int ifd = memfd_create("kexec-initrd", MFD_CLOEXEC);
	if (ifd < 0) {
		free(cpio.p);
		return errno;
	}
	size_t done = 0;
	while (done < cpio.n) {
		ssize_t w = write(ifd, cpio.p + done, cpio.n - done);
		if (w <= 0) {
			e = errno;
			free(cpio.p);
			close(ifd);
			*what = "write initrd";
			return e;
		}
		done += w;
	}
	free(cpio.p);
	lseek(ifd, 0, SEEK_SET);
	*what = "open /kexec/bzImage";
	int kfd = open("/kexec/bzImage", O_RDONLY | O_CLOEXEC);
	if (kfd < 0) {
		e = errno;
		close(ifd);
		return e;
	}
	*what = "kexec_file_load";
	e = syscall(SYS_kexec_file_load, kfd, ifd, strlen(cl) + 1, cl, 0UL) ? errno : 0;
	close(kfd);
	close(ifd);
	if (e)
		return e;
	kexec_loaded = 1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	resp_add(" ms=%ld initrd_bytes=%zu next_gen=%d", (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000,
		 done, generation + 1);
	return 0;
}

static int pending_reboot; /* LINUX_REBOOT_CMD_* to run after the response is written */

/* kexec_reboot: answers "ok", then reboot(LINUX_REBOOT_CMD_KEXEC); every open fd (LUO sessions) stays open */
static int h_kexec_reboot(int argc, char **argv, const char **what)
{
	if (!kexec_loaded) {
		*what = "no kexec image loaded (kexec_load first)";
		return ENOEXEC;
	}
	pending_reboot = LINUX_REBOOT_CMD_KEXEC;
	return 0;
}

static int h_poweroff(int argc, char **argv, const char **what)
{
	pending_reboot = LINUX_REBOOT_CMD_POWER_OFF;
	return 0;
}

/* ----------------------------------------------------------------------------------------------
 * Misc
 * -------------------------------------------------------------------------------------------- */

static int h_ping(int argc, char **argv, const char **what)
{
	struct timespec ts;
	struct utsname u;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	uname(&u);
	resp_add(" gen=%d pid=%d uptime_ms=%ld release=%s iommufd_fd=%d liveupdate=%s euid=%u", generation, getpid(),
		 ts.tv_sec * 1000 + ts.tv_nsec / 1000000, u.release, iommufd,
		 access("/dev/liveupdate", F_OK) ? "no" : "yes", (unsigned)geteuid());
	return 0;
}

/* read_file PATH [MAX] → text with spaces/newlines escaped as %20/%0a (for /proc and debugfs) */
static int h_read_file(int argc, char **argv, const char **what)
{
	__u64 max = 65536;
	struct buf b = { 0 };
	NEED(2);
	if (argc > 2)
		ARG(num, 2, &max);
	*what = "read";
	int e = slurp(argv[1], &b);
	if (e)
		return e;
	resp_add(" text=");
	for (size_t i = 0; i < b.n && i < max; i++) {
		unsigned c = b.p[i];
		if (c <= ' ' || c == '%' || c >= 127)
			resp_add("%%%02x", c);
		else
			resp_add("%c", c);
	}
	free(b.p);
	return 0;
}

static int h_help(int argc, char **argv, const char **what);

static const struct {
	const char *name;
	handler_fn fn;
} handlers[] = {
	{ "ping", h_ping },
	{ "help", h_help },
	{ "ioas_alloc", h_ioas_alloc },
	{ "destroy", h_destroy },
	{ "ioas_map", h_ioas_map },
	{ "ioas_map_file", h_ioas_map_file },
	{ "ioas_unmap", h_ioas_unmap },
	{ "ioas_iova_ranges", h_ioas_iova_ranges },
	{ "ioas_allow_iovas", h_ioas_allow_iovas },
	{ "ioas_copy", h_ioas_copy },
	{ "hwpt_alloc", h_hwpt_alloc },
	{ "option", h_option },
	{ "mock_domain", h_mock_domain },
	{ "mock_domain_replace", h_mock_domain_replace },
	{ "md_check_map", h_md_check_map },
	{ "md_check_refs", h_md_check_refs },
	{ "add_reserved", h_add_reserved },
	{ "iommufd_reopen", h_iommufd_reopen },
	{ "vfio_open", h_vfio_open },
	{ "vfio_bind", h_vfio_bind },
	{ "vfio_attach", h_vfio_attach },
	{ "vfio_detach", h_vfio_detach },
	{ "memfd_create", h_memfd_create },
	{ "mmap", h_mmap },
	{ "munmap", h_munmap },
	{ "close", h_close },
	{ "fd_size", h_fd_size },
	{ "fd_write", h_fd_write },
	{ "fd_read", h_fd_read },
	{ "mem_fill", h_mem_fill },
	{ "mem_hash", h_mem_hash },
	{ "pfn", h_pfn },
	{ "luo_open", h_luo_open },
	{ "luo_create_session", h_luo_create_session },
	{ "luo_retrieve_session", h_luo_retrieve_session },
	{ "luo_preserve", h_luo_preserve },
	{ "luo_retrieve_fd", h_luo_retrieve_fd },
	{ "luo_finish", h_luo_finish },
	{ "luo_session_name", h_luo_session_name },
	{ "kexec_load", h_kexec_load },
	{ "kexec_reboot", h_kexec_reboot },
	{ "poweroff", h_poweroff },
	{ "read_file", h_read_file },
};

static int h_help(int argc, char **argv, const char **what)
{
	resp_add(" commands=");
	for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
		resp_add("%s%s", i ? "," : "", handlers[i].name);
	return 0;
}

static void serve_line(char *line)
{
	char *argv[MAX_ARGS + 1];
	int argc = 0;
	char *save;
	for (char *tok = strtok_r(line, " \t\r", &save); tok && argc <= MAX_ARGS; tok = strtok_r(NULL, " \t\r", &save))
		argv[argc++] = tok;
	if (argc == 0)
		return;
	resp_add("%s", argv[0]);
	if (argc < 2) {
		resp_add(" err EINVAL missing%%20command");
		flush_resp();
		return;
	}
	if (argc > MAX_ARGS) {
		resp_add(" err E2BIG too%%20many%%20arguments");
		flush_resp();
		return;
	}
	for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++) {
		if (strcmp(handlers[i].name, argv[1]))
			continue;
		const char *what = argv[1];
		size_t mark = resp_len;
		resp_add(" ok");
		int e = handlers[i].fn(argc - 1, argv + 1, &what);
		if (e) {
			resp_len = mark;
			resp_add(" err %s ", errname(e));
			for (const char *p = what; *p; p++)
				resp_add(*p == ' ' ? "%%20" : "%c", *p);
		}
		flush_resp();
		return;
	}
	resp_add(" err ENOSYS unknown%%20command");
	flush_resp();
}

/* ----------------------------------------------------------------------------------------------
 * PID 1 setup and the serving loop
 * -------------------------------------------------------------------------------------------- */

static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "iommufd-helper: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
}

/* /sys/class/virtio-ports/vportNpM/name == "hitless" → /dev/vportNpM */
static int find_port(char *path, size_t n)
{
	DIR *d = opendir("/sys/class/virtio-ports");
	struct dirent *de;
	int found = 0;
	if (!d)
		return 0;
	while (!found && (de = readdir(d))) {
		char p[512], name[64] = "";
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "/sys/class/virtio-ports/%s/name", de->d_name);
		FILE *f = fopen(p, "r");
		if (!f)
			continue;
		if (fgets(name, sizeof(name), f) && !strncmp(name, "hitless", 7) && (name[7] == '\n' || !name[7])) {
			snprintf(path, n, "/dev/%s", de->d_name);
			found = 1;
		}
		fclose(f);
	}
	closedir(d);
	return found;
}

static void pid1_setup(void)
{
	mkdir("/dev", 0755);
	mkdir("/proc", 0755);
	mkdir("/sys", 0755);
	if (mount("devtmpfs", "/dev", "devtmpfs", 0, NULL) && errno != EBUSY)
		say("mount /dev: %s", strerror(errno));
	if (mount("proc", "/proc", "proc", 0, NULL))
		say("mount /proc: %s", strerror(errno));
	if (mount("sysfs", "/sys", "sysfs", 0, NULL))
		say("mount /sys: %s", strerror(errno));
	if (mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL))
		say("mount debugfs: %s", strerror(errno));
	/* Console: the kernel gave us /dev/console from the initramfs; keep stderr on it. */
	int c = open("/dev/console", O_RDWR | O_NOCTTY);
	if (c >= 0) {
		dup2(c, 2);
		if (c > 2)
			close(c);
	}
}

int main(int argc, char **argv)
{
	int in_fd = 0;
	int pid1 = getpid() == 1;
	setvbuf(stderr, NULL, _IONBF, 0);
	if (pid1)
		pid1_setup();

	FILE *f = fopen("/proc/cmdline", "r");
	if (f) {
		if (fgets(cmdline, sizeof(cmdline), f))
			cmdline[strcspn(cmdline, "\n")] = 0;
		fclose(f);
	}
	char *g = strstr(cmdline, "hitless.gen=");
	if (g)
		generation = atoi(g + 12);

	iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	if (iommufd < 0)
		say("open /dev/iommu: %s (iommufd commands will answer ENODEV)", strerror(errno));

	if (pid1) {
		char port[300];
		int tries = 0;
		while (!find_port(port, sizeof(port)) && tries++ < 100)
			usleep(50000);
		if (tries > 100) {
			say("no virtio-serial port named 'hitless'; serving the console");
			in_fd = out_fd = open("/dev/console", O_RDWR | O_NOCTTY);
		} else {
			in_fd = out_fd = open(port, O_RDWR | O_NOCTTY);
			if (in_fd < 0)
				say("open %s: %s", port, strerror(errno));
		}
		struct timespec ts;
		clock_gettime(CLOCK_BOOTTIME, &ts);
		say("generation %d ready on %s at %ld ms (cmdline: %s)", generation, tries > 100 ? "/dev/console" : port,
		    ts.tv_sec * 1000 + ts.tv_nsec / 1000000, cmdline);
	}

	size_t cap = 65536, len = 0;
	char *line = malloc(cap);
	for (;;) {
		if (len == cap) {
			if (cap >= MAX_LINE) {
				resp_add("- err E2BIG line%%20too%%20long");
				flush_resp();
				len = 0;
			} else {
				cap *= 2;
				line = realloc(line, cap);
			}
		}
		ssize_t r = read(in_fd, line + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (!pid1)
				return 0;
			usleep(20000); /* the host end is not connected (yet): wait for it */
			continue;
		}
		len += r;
		char *nl;
		while ((nl = memchr(line, '\n', len))) {
			*nl = 0;
			serve_line(line);
			size_t rest = len - (nl + 1 - line);
			memmove(line, nl + 1, rest);
			len = rest;
			if (pending_reboot) {
				int cmd = pending_reboot;
				pending_reboot = 0;
				say("reboot(%s)", cmd == LINUX_REBOOT_CMD_KEXEC ? "KEXEC" : "POWER_OFF");
				usleep(100000); /* let the response leave the virtqueue before devices shut down */
				if (!pid1 && cmd == LINUX_REBOOT_CMD_POWER_OFF)
					return 0;
				sync();
				syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, cmd, NULL);
				say("reboot failed: %s", strerror(errno));
				if (cmd == LINUX_REBOOT_CMD_POWER_OFF)
					syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2,
						LINUX_REBOOT_CMD_RESTART, NULL);
			}
		}
	}
}
