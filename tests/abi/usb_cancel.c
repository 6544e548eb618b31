// SPDX-License-Identifier: GPL-2.0
/*
 * Driver cancellation (kiocb_set_cancel_fn) with a real driver: a USB
 * FunctionFS gadget on the dummy host controller.  The host side of the
 * same kernel enumerates the gadget and configures it, so its endpoints are
 * enabled, but nothing ever sends data: AIO reads on the bulk OUT endpoint
 * stay queued in the driver until they are cancelled.
 *
 * Checked on both kernels, with the same expectations: io_cancel of such a
 * read returns -EINPROGRESS and the event carries the driver's result
 * (-ECONNRESET from usb_ep_dequeue), an eventfd counts one; io_destroy and
 * process exit with reads pending cancel them and give aio-nr back; a read
 * that the driver completes itself (the gadget is unbound: -ESHUTDOWN) is
 * no longer cancellable; an io_uring read on the same endpoint, whose kiocb
 * also reaches kiocb_set_cancel_fn, is ignored there and completes normally.
 */
#include "tap.h"
#include <dirent.h>
#include <liburing.h>
#include <linux/usb/ch9.h>
#include <linux/usb/functionfs.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* The descriptors below are written in host order: little-endian only. */
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "usb_cancel assumes a little-endian host"
#endif

#define CONFIGFS	"/sys/kernel/config"
#define GADGET		CONFIGFS "/usb_gadget/aio"
#define FFS		"/tmp/ffs-aio"
#define NREADS		4
#define READ_LEN	512

static const struct {
	struct usb_functionfs_descs_head_v2 header;
	__le32 fs_count;
	__le32 hs_count;
	struct {
		struct usb_interface_descriptor intf;
		struct usb_endpoint_descriptor_no_audio in;
		struct usb_endpoint_descriptor_no_audio out;
	} __attribute__((packed)) fs_descs, hs_descs;
} __attribute__((packed)) descriptors = {
	.header = {
		.magic = (FUNCTIONFS_DESCRIPTORS_MAGIC_V2),
		.flags = (FUNCTIONFS_HAS_FS_DESC | FUNCTIONFS_HAS_HS_DESC),
		.length = (sizeof(descriptors)),
	},
	.fs_count = (3),
	.hs_count = (3),
#define DESCS(maxpacket) {						\
		.intf = {						\
			.bLength = sizeof(struct usb_interface_descriptor), \
			.bDescriptorType = USB_DT_INTERFACE,		\
			.bNumEndpoints = 2,				\
			.bInterfaceClass = USB_CLASS_VENDOR_SPEC,	\
			.iInterface = 1,				\
		},							\
		.in = {							\
			.bLength = USB_DT_ENDPOINT_SIZE,		\
			.bDescriptorType = USB_DT_ENDPOINT,		\
			.bEndpointAddress = 1 | USB_DIR_IN,		\
			.bmAttributes = USB_ENDPOINT_XFER_BULK,		\
			.wMaxPacketSize = (maxpacket),		\
		},							\
		.out = {						\
			.bLength = USB_DT_ENDPOINT_SIZE,		\
			.bDescriptorType = USB_DT_ENDPOINT,		\
			.bEndpointAddress = 2 | USB_DIR_OUT,		\
			.bmAttributes = USB_ENDPOINT_XFER_BULK,		\
			.wMaxPacketSize = (maxpacket),		\
		},							\
	}
	.fs_descs = DESCS(64),
	.hs_descs = DESCS(512),
};

#define STR_INTERFACE "aio cancel test"

static const struct {
	struct usb_functionfs_strings_head header;
	struct {
		__le16 code;
		const char str1[sizeof(STR_INTERFACE)];
	} __attribute__((packed)) lang0;
} __attribute__((packed)) strings = {
	.header = {
		.magic = (FUNCTIONFS_STRINGS_MAGIC),
		.length = (sizeof(strings)),
		.str_count = (1),
		.lang_count = (1),
	},
	.lang0 = { (0x0409), STR_INTERFACE },
};

static int ep0 = -1;
static char udc[256];

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -EIO;
}

static int find_udc(void)
{
	DIR *d = opendir("/sys/class/udc");
	struct dirent *e;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, "dummy_udc", 9)) {
			snprintf(udc, sizeof(udc), "%s", e->d_name);
			break;
		}
	closedir(d);
	return udc[0] ? 0 : -1;
}

/* Waits for the FunctionFS event @type on ep0 (up to 60 s: TCG is slow). */
static int wait_event(int type)
{
	struct usb_functionfs_event ev[4];
	double end = now_ms() + 60000;

	while (now_ms() < end) {
		struct pollfd p = { .fd = ep0, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 1000) <= 0)
			continue;
		n = read(ep0, ev, sizeof(ev));
		if (n < 0)
			return -errno;
		for (size_t i = 0; i < n / sizeof(ev[0]); i++)
			if (ev[i].type == type)
				return 0;
	}
	return -ETIMEDOUT;
}

/* configfs gadget with one FunctionFS function, bound to the dummy UDC. */
static int gadget_up(void)
{
	if (mount("none", CONFIGFS, "configfs", 0, NULL) && errno != EBUSY)
		return -errno;
	if (mkdir(GADGET, 0755) && errno != EEXIST)
		return -errno;
	if (write_str(GADGET "/idVendor", "0x1d6b") ||
	    write_str(GADGET "/idProduct", "0x0104") ||
	    mkdir(GADGET "/functions/ffs.aio", 0755) ||
	    mkdir(GADGET "/configs/c.1", 0755) ||
	    symlink(GADGET "/functions/ffs.aio", GADGET "/configs/c.1/ffs.aio"))
		return -EIO;
	mkdir(FFS, 0755);
	if (mount("aio", FFS, "functionfs", 0, NULL))
		return -errno;
	ep0 = open(FFS "/ep0", O_RDWR);
	if (ep0 < 0)
		return -errno;
	if (write(ep0, &descriptors, sizeof(descriptors)) != sizeof(descriptors) ||
	    write(ep0, &strings, sizeof(strings)) != sizeof(strings))
		return -EIO;
	if (find_udc() || write_str(GADGET "/UDC", udc))
		return -ENODEV;
	/* The host side enumerates the gadget and sets its configuration. */
	return wait_event(FUNCTIONFS_ENABLE);
}

static int open_out_ep(void)
{
	/* O_NONBLOCK: a disabled endpoint fails the read instead of blocking. */
	return open(FFS "/ep2", O_RDWR | O_NONBLOCK);
}

static void prep_read(struct iocb *cb, int fd, void *buf, unsigned long data)
{
	memset(cb, 0, sizeof(*cb));
	cb->aio_fildes = fd;
	cb->aio_lio_opcode = IOCB_CMD_PREAD;
	cb->aio_buf = (unsigned long)buf;
	cb->aio_nbytes = READ_LEN;
	cb->aio_data = data;
}

static long no_events_now(aio_context_t ctx)
{
	struct io_event ev[NREADS * 2];
	struct timespec zero = { 0, 0 };

	return io_getevents(ctx, 0, NREADS * 2, ev, &zero);
}

static void test_cancel(void)
{
	static char bufs[NREADS][READ_LEN];
	struct iocb cbs[NREADS], *ptrs[NREADS];
	struct io_event ev[NREADS];
	struct timespec ts = { 30, 0 };
	aio_context_t ctx = 0;
	unsigned long long cnt = 0;
	int fd = open_out_ep(), efd = eventfd(0, EFD_NONBLOCK);
	int good = 0, ids = 0;
	long r;

	CHECK(fd >= 0, "open the bulk OUT endpoint");
	CHECK_RET(io_setup(64, &ctx), 0, "io_setup");
	for (int i = 0; i < NREADS; i++) {
		prep_read(&cbs[i], fd, bufs[i], 100 + i);
		ptrs[i] = &cbs[i];
	}
	cbs[0].aio_flags = IOCB_FLAG_RESFD;
	cbs[0].aio_resfd = efd;
	CHECK_RET(io_submit(ctx, NREADS, ptrs), NREADS, "submit reads nobody will satisfy");
	usleep(200000);
	CHECK_RET(no_events_now(ctx), 0, "the reads stay pending");
	for (int i = 0; i < NREADS; i++)
		CHECK_RET(io_cancel(ctx, &cbs[i], &ev[0]), -EINPROGRESS, "io_cancel of a pending read");
	r = io_getevents(ctx, NREADS, NREADS, ev, &ts);
	CHECK_RET(r, NREADS, "one event per cancelled read");
	for (long i = 0; i < r; i++) {
		good += ev[i].res == -ECONNRESET && ev[i].res2 == 0;
		ids += ev[i].obj == (unsigned long)&cbs[ev[i].data - 100];
	}
	CHECK(good == NREADS, "events carry the driver's -ECONNRESET (%d of %d)", good, NREADS);
	CHECK(ids == NREADS, "events carry obj and data (%d of %d)", ids, NREADS);
	r = read(efd, &cnt, 8);
	CHECK(r == 8 && cnt == 1, "eventfd counted one (%llu)", cnt);
	CHECK_RET(no_events_now(ctx), 0, "no second event");
	CHECK_RET(io_cancel(ctx, &cbs[1], &ev[0]), -EINVAL, "io_cancel after completion");
	CHECK_RET(io_destroy(ctx), 0, "io_destroy");
	close(efd);
	close(fd);
}

/* io_destroy with reads pending in the driver cancels and waits for them. */
static void test_destroy(void)
{
	static char bufs[8][READ_LEN];
	struct iocb cbs[8], *ptrs[8];
	unsigned long nr0 = read_ulong("/proc/sys/fs/aio-nr");
	aio_context_t ctx = 0;
	int fd = open_out_ep();

	CHECK_RET(io_setup(32, &ctx), 0, "io_setup");
	for (int i = 0; i < 8; i++) {
		prep_read(&cbs[i], fd, bufs[i], i);
		ptrs[i] = &cbs[i];
	}
	CHECK_RET(io_submit(ctx, 8, ptrs), 8, "submit 8 pending reads");
	CHECK_RET(io_destroy(ctx), 0, "io_destroy with reads pending returns");
	CHECK(read_ulong("/proc/sys/fs/aio-nr") == nr0, "aio-nr back to %lu", nr0);
	close(fd);
}

/* Process exit with reads pending: exit_aio cancels them. */
static void test_exit(void)
{
	unsigned long nr0 = read_ulong("/proc/sys/fs/aio-nr");
	int status = -1;
	pid_t pid = fork();

	if (pid == 0) {
		static char bufs[8][READ_LEN];
		struct iocb cbs[8], *ptrs[8];
		aio_context_t ctx = 0;
		int fd = open_out_ep();

		if (fd < 0 || io_setup(32, &ctx))
			_exit(2);
		for (int i = 0; i < 8; i++) {
			prep_read(&cbs[i], fd, bufs[i], i);
			ptrs[i] = &cbs[i];
		}
		_exit(io_submit(ctx, 8, ptrs) == 8 ? 0 : 3);
	}
	pid_t got = waitpid(pid, &status, 0);

	CHECK(got == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "child exits with 8 reads pending (status %#x)", status);
	CHECK(read_ulong("/proc/sys/fs/aio-nr") == nr0, "aio-nr back to %lu after exit", nr0);
}

/*
 * An io_uring read on the same endpoint: the driver calls
 * kiocb_set_cancel_fn on io_uring's kiocb, which AIO must ignore.  Then the
 * gadget is unbound: the driver completes that read and a pending AIO read
 * with -ESHUTDOWN, and the AIO read is no longer cancellable.
 */
static void test_io_uring_and_unbind(void)
{
	static char ubuf[READ_LEN], abuf[READ_LEN];
	struct __kernel_timespec kts = { 30, 0 };
	struct timespec ts = { 30, 0 };
	struct io_uring ring;
	struct io_uring_cqe *cqe = NULL;
	struct io_uring_sqe *sqe;
	struct iocb cb, *ptr = &cb;
	struct io_event ev;
	aio_context_t ctx = 0;
	int fd = open_out_ep(), ures = 1;

	CHECK(io_uring_queue_init(4, &ring, 0) == 0, "io_uring_queue_init");
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_read(sqe, fd, ubuf, READ_LEN, 0);
	CHECK(io_uring_submit(&ring) == 1, "io_uring read on the endpoint submitted");
	CHECK_RET(io_setup(8, &ctx), 0, "io_setup");
	prep_read(&cb, fd, abuf, 7);
	CHECK_RET(io_submit(ctx, 1, &ptr), 1, "AIO read on the same endpoint");
	usleep(200000);
	CHECK(io_uring_peek_cqe(&ring, &cqe) == -EAGAIN, "io_uring read still pending");
	CHECK_RET(no_events_now(ctx), 0, "AIO read still pending");

	CHECK(write_str(GADGET "/UDC", "\n") == 0, "unbind the gadget");
	if (io_uring_wait_cqe_timeout(&ring, &cqe, &kts) == 0) {
		ures = cqe->res;
		io_uring_cqe_seen(&ring, cqe);
	}
	CHECK(ures == -ESHUTDOWN, "io_uring read completed by the driver: %d", ures);
	CHECK_RET(io_getevents(ctx, 1, 1, &ev, &ts), 1, "AIO read completed by the driver");
	CHECK(ev.res == -ESHUTDOWN && ev.data == 7, "its event carries -ESHUTDOWN (%lld)",
	      (long long)ev.res);
	CHECK_RET(io_cancel(ctx, &cb, &ev), -EINVAL, "a completed driver read is not cancellable");
	CHECK_RET(io_destroy(ctx), 0, "io_destroy");
	io_uring_queue_exit(&ring);
	close(fd);
}

static void gadget_down(void)
{
	write_str(GADGET "/UDC", "\n");
	if (ep0 >= 0)
		close(ep0);
	umount(FFS);
	unlink(GADGET "/configs/c.1/ffs.aio");
	rmdir(GADGET "/configs/c.1");
	rmdir(GADGET "/functions/ffs.aio");
	rmdir(GADGET);
}

int main(void)
{
	struct stat st;
	int r;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (stat("/sys/class/udc", &st)) {
		printf("ok 1 - # SKIP no USB gadget support in this kernel\n1..1\n");
		return 0;
	}
	r = gadget_up();
	CHECK(r == 0, "FunctionFS gadget on dummy_hcd enabled by the host (%d)", r);
	if (r == 0) {
		test_cancel();
		test_destroy();
		test_exit();
		test_io_uring_and_unbind();
	}
	gadget_down();
	return tap_done();
}
