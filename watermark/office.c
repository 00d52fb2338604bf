/* Office documents: LibreOffice in the sandbox, then the PDF path.
 *
 * Why LibreOffice runs as a child of the stamper and not of the worker:
 * the stamper is already the process whose rlimits, Landlock rules and
 * process group the worker set up for one untrusted file, so the
 * converter inherits every one of them, and the worker's deadline (a kill
 * of the whole group) ends it too. The stamper converts before it loads
 * its own seccomp filter, whose ban on execve would stop LibreOffice; the
 * converter gets a filter of its own first (watermark/seccomp.h). */
#define _GNU_SOURCE
#include "watermark/office.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "watermark/archive_guard.h"
#include "watermark/landlock.h"
#include "watermark/options.h"
#include "watermark/pdf.h"
#include "watermark/seccomp.h"

/* The private profile's settings, written before LibreOffice starts:
 * macros never run (DisableMacrosExecution; "very high" security as a
 * second lock), and links to other documents are never followed. The
 * network is gone anyway (no socket of any family): these keep
 * LibreOffice from trying. */
static const char registry[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<oor:items xmlns:oor=\"http://openoffice.org/2001/registry\""
    " xmlns:xs=\"http://www.w3.org/2001/XMLSchema\""
    " xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n"
    "<item oor:path=\"/org.openoffice.Office.Common/Security/Scripting\">"
    "<prop oor:name=\"DisableMacrosExecution\" oor:op=\"fuse\"><value>true</value></prop>"
    "</item>\n"
    "<item oor:path=\"/org.openoffice.Office.Common/Security/Scripting\">"
    "<prop oor:name=\"MacroSecurityLevel\" oor:op=\"fuse\"><value>3</value></prop></item>\n"
    "<item oor:path=\"/org.openoffice.Office.Common/Security/Scripting\">"
    "<prop oor:name=\"BlockUntrustedRefererLinks\" oor:op=\"fuse\"><value>true</value></prop>"
    "</item>\n"
    "<item oor:path=\"/org.openoffice.Office.Common/Misc\">"
    "<prop oor:name=\"UseDocumentSystemFileLocking\" oor:op=\"fuse\"><value>false</value>"
    "</prop></item>\n"
    "</oor:items>\n";

/* /etc/passwd (world-readable): soffice.bin looks up its user name and
 * stops when it cannot. */
const char *const wm_office_reads[] = {"/etc/libreoffice", "/var/spool/libreoffice",
                                       "/etc/passwd", "/etc/nsswitch.conf", NULL};

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    size_t n = strlen(text);
    ssize_t w = write(fd, text, n);
    close(fd);
    return w == (ssize_t)n ? 0 : -1;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)ftw;
    if (flag == FTW_DP)
        (void)rmdir(path);
    else
        (void)unlink(path);
    return 0;
}

static void remove_tree(const char *dir)
{
    (void)nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

void wm_office_cleanup(const char *pdf)
{
    char copy[PATH_MAX];
    if (!pdf || !*pdf || snprintf(copy, sizeof copy, "%s", pdf) >= (int)sizeof copy)
        return;
    /* pdf is DIR/pdf/NAME.pdf: DIR is the converter's own directory. */
    char *d = dirname(copy);
    char *slash = strrchr(d, '/');
    if (!slash)
        return;
    *slash = '\0';
    if (strstr(d, "/.office-") || strncmp(d, ".office-", 8) == 0)
        remove_tree(d);
}

/* A zip-based document (OOXML, ODF: "PK\3\4") is unpacked once through
 * the archive guard, so a zip bomb is refused before LibreOffice would
 * inflate it in memory. Runs in the converter child, under its seccomp
 * filter. */
static fg_result guard_zip(const char *in, fg_reason *r)
{
    unsigned char magic[4] = {0};
    int fd = open(in, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fg_fail(r, FG_ECORRUPT, "cannot open the document");
    ssize_t n = read(fd, magic, sizeof magic);
    struct stat st;
    int ok = fstat(fd, &st) == 0;
    close(fd);
    if (!ok || n != 4 || memcmp(magic, "PK\3\4", 4) != 0)
        return FG_OK;
    wm_archive_limits lim;
    wm_archive_guard g;
    fg_result rc = wm_archive_limits_init(&lim, r);
    if (rc != FG_OK)
        return rc;
    wm_archive_guard_init(&g, &lim, (long long)st.st_size);
    struct archive *a = archive_read_new();
    struct archive_entry *e;
    static char buf[64 * 1024];
    if (!a)
        return fg_fail(r, FG_EIO, "cannot check the document: out of memory");
    archive_read_support_format_zip(a);
    if (archive_read_open_filename(a, in, 64 * 1024) != ARCHIVE_OK) {
        rc = fg_fail(r, FG_ECORRUPT, "document cannot be read: damaged zip");
        goto out;
    }
    for (;;) {
        int h = archive_read_next_header(a, &e);
        if (h == ARCHIVE_EOF)
            break;
        if (h != ARCHIVE_OK && h != ARCHIVE_WARN) {
            rc = fg_fail(r, FG_ECORRUPT, "document cannot be read: damaged zip");
            goto out;
        }
        if ((rc = wm_archive_guard_entry(&g, archive_entry_size_is_set(e)
                                                 ? (long long)archive_entry_size(e)
                                                 : -1,
                                         r)) != FG_OK)
            goto out;
        for (;;) {
            la_ssize_t k = archive_read_data(a, buf, sizeof buf);
            if (k == 0)
                break;
            if (k < 0) {
                rc = fg_fail(r, FG_ECORRUPT, "document cannot be read: damaged zip");
                goto out;
            }
            if ((rc = wm_archive_guard_bytes(&g, k, archive_filter_bytes(a, -1), r)) != FG_OK)
                goto out;
        }
    }
out:
    archive_read_free(a);
    if (rc == FG_ELIMIT) {
        /* Said as a document, not an archive: the buyer sees this. */
        char why[FG_REASON_MAX];
        snprintf(why, sizeof why, "%s", r->text);
        rc = fg_fail(r, FG_ELIMIT, "document refused (a zip bomb?): %s", why);
    }
    return rc;
}

static int write_proc(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* Where Debian keeps LibreOffice's shared extensions (a link from /usr):
 * read, and made read-only like /usr. */
#define SHARED_EXTENSIONS "/var/spool/libreoffice"

/* The flags a remount must keep: in a user namespace the ones the
 * mount came with are locked, and a remount without them is refused. */
static unsigned long kept_flags(const char *path)
{
    struct statvfs v;
    unsigned long f = 0;
    if (statvfs(path, &v) != 0)
        return 0;
    if (v.f_flag & ST_NOSUID)
        f |= MS_NOSUID;
    if (v.f_flag & ST_NODEV)
        f |= MS_NODEV;
    if (v.f_flag & ST_NOEXEC)
        f |= MS_NOEXEC;
    if (v.f_flag & ST_NOATIME)
        f |= MS_NOATIME;
    if (v.f_flag & ST_NODIRATIME)
        f |= MS_NODIRATIME;
    if (v.f_flag & ST_RELATIME)
        f |= MS_RELATIME;
    return f;
}

static int bind_self(const char *path, bool rdonly)
{
    unsigned long keep = kept_flags(path);
    if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) != 0)
        return -1;
    return mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | keep | (rdonly ? MS_RDONLY : 0), NULL);
}

/* LibreOffice's single-instance pipe is an AF_UNIX socket it binds in
 * /tmp, else /var/tmp, whichever access(2) finds writable (TMPDIR is not
 * asked), else where its bootstrap variable OSL_SOCKET_PATH says; it will
 * not start without it. Rather than let it write in the host's /tmp (and
 * leave a socket there when it is killed), the converter gets a mount
 * namespace of its own, in a user namespace (no privilege needed, the
 * uid the same inside), where /tmp and /var/tmp are read-only, so the
 * pipe goes to OSL_SOCKET_PATH, its own directory, bound writable again
 * in case it lies under /tmp. /usr is read-only too: run as root,
 * LibreOffice would otherwise try to update its shared extensions there
 * (Landlock refuses, and it aborts). */
static fg_result private_tmp(const char *dir, fg_reason *r)
{
    char map[64];
    uid_t uid = getuid();
    gid_t gid = getgid();
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0)
        return fg_fail(r, FG_EIO, "office previews need user namespaces, which this host "
                                  "refuses (kernel.unprivileged_userns_clone)");
    snprintf(map, sizeof map, "%u %u 1", (unsigned)uid, (unsigned)uid);
    if (write_proc("/proc/self/setgroups", "deny") != 0 ||
        write_proc("/proc/self/uid_map", map) != 0)
        return fg_fail(r, FG_EIO, "cannot set up the converter's user namespace");
    snprintf(map, sizeof map, "%u %u 1", (unsigned)gid, (unsigned)gid);
    if (write_proc("/proc/self/gid_map", map) != 0 ||
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 || bind_self("/tmp", true) != 0 ||
        bind_self("/usr", true) != 0 ||
        (access(SHARED_EXTENSIONS, F_OK) == 0 && bind_self(SHARED_EXTENSIONS, true) != 0) ||
        (access("/var/tmp", F_OK) == 0 && bind_self("/var/tmp", true) != 0) ||
        bind_self(dir, false) != 0)
        return fg_fail(r, FG_EIO, "cannot give the converter a private /tmp");
    return FG_OK;
}

/* The converter child: never returns. The reason of a failure goes to
 * fd why, the exit status says which result it is (exit codes of the
 * CLI: 4 corrupt, 5 over a limit, 1 anything else). In order: its own
 * /tmp, the stamper's Landlock rules plus LibreOffice's configuration and
 * that /tmp, the converter's seccomp filter, the zip guard, LibreOffice. */
static void __attribute__((noreturn)) converter(const char *in, const char *out,
                                                const char *dir, char *const *argv,
                                                char *const *envp, int why, int devnull)
{
    fg_reason r = {{0}};
    fg_result rc;
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || dup2(devnull, 0) < 0 ||
        dup2(devnull, 1) < 0 || dup2(devnull, 2) < 0)
        _exit(1);
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s/tmp", dir);
    if ((rc = private_tmp(dir, &r)) == FG_OK && chdir(tmp) != 0)
        rc = fg_fail(&r, FG_EIO, "cannot enter the converter's directory");
    if (rc == FG_OK &&
        (rc = wm_sandbox_confine_paths(in, out, wm_office_reads, NULL, &r)) == FG_OK &&
        (rc = wm_sandbox_enter_converter(&r)) == FG_OK && (rc = guard_zip(in, &r)) == FG_OK) {
        execve(argv[0], argv, envp);
        rc = fg_fail(&r, FG_EIO, "cannot start LibreOffice (FILIGRANE_SOFFICE)");
    }
    (void)!write(why, r.text, strlen(r.text));
    _exit(rc == FG_ECORRUPT ? 4 : rc == FG_ELIMIT ? 5 : 1);
}

/* Runs the converter child once and waits for it: FG_OK with its wait
 * status in *st, or the reason it gave (the zip guard, a namespace the
 * host refuses...) as the result. */
static fg_result run_converter(const char *in, const char *out, const char *dir,
                               char *const *argv, char *const *envp, int devnull, int *st,
                               fg_reason *r)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0)
        return fg_fail(r, FG_EIO, "cannot start LibreOffice: out of file descriptors");
    pid_t pid = fork();
    if (pid < 0) {
        close(pfd[0]);
        close(pfd[1]);
        return fg_fail(r, FG_EIO, "cannot start LibreOffice: fork failed");
    }
    if (pid == 0)
        converter(in, out, dir, argv, envp, pfd[1], devnull);
    close(pfd[1]);
    while (waitpid(pid, st, 0) < 0 && errno == EINTR)
        ;
    char why[FG_REASON_MAX] = "";
    ssize_t n = read(pfd[0], why, sizeof why - 1);
    close(pfd[0]);
    why[n > 0 ? n : 0] = '\0';
    if (!why[0])
        return FG_OK;
    int code = WIFEXITED(*st) ? WEXITSTATUS(*st) : 1;
    return fg_fail(r, code == 4 ? FG_ECORRUPT : code == 5 ? FG_ELIMIT : FG_EIO, "%s", why);
}

/* The one PDF LibreOffice wrote in dir, into pdf. */
static bool find_pdf(const char *dir, char *pdf, size_t cap)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    bool found = false;
    if (!d)
        return false;
    while (!found && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n > 4 && strcmp(e->d_name + n - 4, ".pdf") == 0)
            found = snprintf(pdf, cap, "%s/%s", dir, e->d_name) < (int)cap;
    }
    closedir(d);
    return found;
}

fg_result wm_office_convert(const char *in, const wm_type *t, const char *out, char *pdf,
                            size_t cap, fg_reason *r)
{
    /* dir is at most PATH_MAX - 64 bytes (checked), so every name made
     * from it fits in DERIVED. */
    enum { DERIVED = PATH_MAX + 128 };
    char copy[PATH_MAX], dir[PATH_MAX], prof[DERIVED], outdir[DERIVED], tmp[DERIVED],
        xcu[DERIVED], url[DERIVED], sock[DERIVED], inarg[PATH_MAX + 4];
    char env_home[DERIVED + 16], env_tmp[DERIVED + 16], env_xdg[DERIVED + 32];
    int devnull = -1;
    fg_result rc = FG_OK;
    (void)t;
    *pdf = '\0';
    const char *soffice = getenv("FILIGRANE_SOFFICE");
    if (!soffice || !*soffice)
        soffice = WM_SOFFICE_DEFAULT;
    if (soffice[0] != '/')
        return fg_fail(r, FG_EUSAGE, "bad FILIGRANE_SOFFICE: want an absolute path");
    char cwd[PATH_MAX] = "";
    /* LibreOffice wants its profile as an absolute file:// URL. */
    if (out[0] != '/' && !getcwd(cwd, sizeof cwd))
        return fg_fail(r, FG_EIO, "cannot find the working directory");
    if (in[0] != '/' && !cwd[0] && !getcwd(cwd, sizeof cwd))
        return fg_fail(r, FG_EIO, "cannot find the working directory");
    /* Absolute, as the converter works in its own directory. */
    if (snprintf(copy, sizeof copy, "%s%s%s", out[0] == '/' ? "" : cwd,
                 out[0] == '/' ? "" : "/", out) >= (int)sizeof copy ||
        snprintf(inarg, sizeof inarg, "%s%s%s", in[0] == '/' ? "" : cwd,
                 in[0] == '/' ? "" : "/", in) >= (int)sizeof inarg)
        return fg_fail(r, FG_EUSAGE, "path too long");
    /* Beside the preview: the one place the stamper may write
     * (watermark/landlock.h), and removed with the job's directory. */
    char absout[PATH_MAX];
    memcpy(absout, copy, sizeof absout);
    if (snprintf(dir, sizeof dir, "%s/.office-XXXXXX", dirname(copy)) >= PATH_MAX - 64)
        return fg_fail(r, FG_EUSAGE, "path too long");
    if (!mkdtemp(dir))
        return fg_fail(r, FG_EIO, "cannot make the converter's directory");
    snprintf(prof, sizeof prof, "%s/profile", dir);
    snprintf(outdir, sizeof outdir, "%s/pdf", dir);
    snprintf(tmp, sizeof tmp, "%s/tmp", dir);
    snprintf(xcu, sizeof xcu, "%s/profile/user", dir);
    if (mkdir(prof, 0700) != 0 || mkdir(outdir, 0700) != 0 || mkdir(tmp, 0700) != 0 ||
        mkdir(xcu, 0700) != 0) {
        rc = fg_fail(r, FG_EIO, "cannot make the converter's directory");
        goto out;
    }
    snprintf(xcu, sizeof xcu, "%s/profile/user/registrymodifications.xcu", dir);
    if (write_file(xcu, registry) != 0) {
        rc = fg_fail(r, FG_EIO, "cannot write the converter's profile");
        goto out;
    }
    snprintf(url, sizeof url, "-env:UserInstallation=file://%s/profile", dir);
    snprintf(env_home, sizeof env_home, "HOME=%s", dir);
    snprintf(env_tmp, sizeof env_tmp, "TMPDIR=%s/tmp", dir);
    snprintf(env_xdg, sizeof env_xdg, "XDG_CACHE_HOME=%s/tmp", dir);
    /* Relative to the converter's working directory (its tmp): an
     * AF_UNIX path holds 108 bytes, and the job's directory can be longer
     * than that leaves. */
    snprintf(sock, sizeof sock, "-env:OSL_SOCKET_PATH=.");
    /* The whole environment: nothing of the stamper's (or the worker's)
     * reaches LibreOffice. svp: the headless back end, no display. */
    char *envp[] = {env_home, env_tmp, env_xdg, "PATH=/usr/bin:/bin", "LANG=C.UTF-8",
                    "SAL_USE_VCLPLUGIN=svp", NULL};
    char *argv[] = {(char *)soffice, "--headless", "--invisible", "--norestore", "--nologo",
                    "--nolockcheck", "--nodefault", "--nofirststartwizard", url, sock,
                    "--convert-to", "pdf", "--outdir", outdir, inarg, NULL};
    devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0) {
        rc = fg_fail(r, FG_EIO, "cannot start LibreOffice: out of file descriptors");
        goto out;
    }
    /* A fresh profile makes soffice.bin stop with 81 once it has written
     * it ("restart": what oosplash would do), then run again. */
    for (int run = 0; run < 2; run++) {
        int st = 0;
        if ((rc = run_converter(inarg, absout, dir, argv, envp, devnull, &st, r)) != FG_OK)
            goto out;
        if (WIFEXITED(st) && WEXITSTATUS(st) == 81 && run == 0)
            continue;
        if (WIFSIGNALED(st))
            rc = fg_fail(r, FG_ECRASH, "LibreOffice was stopped (signal %d%s)", WTERMSIG(st),
                         WTERMSIG(st) == SIGSYS ? ", a forbidden system call" : "");
        else if (!find_pdf(outdir, pdf, cap))
            rc = fg_fail(r, FG_ECORRUPT,
                         "document cannot be read: LibreOffice made no pdf of it (exit %d)",
                         WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        break;
    }
out:
    if (devnull >= 0)
        close(devnull);
    if (rc != FG_OK) {
        *pdf = '\0';
        remove_tree(dir);
    }
    return rc;
}

fg_result wm_stamp_office_pdf(const char *pdf, const char *out, const wm_options *o,
                              fg_reason *r)
{
    uint64_t seed = o->seed;
    fg_result rc;
    if (!o->has_seed && (rc = wm_random_seed(&seed, r)) != FG_OK)
        return rc;
    rc = wm_pdf_excerpt_file(pdf, out, o, seed, r);
    /* LibreOffice wrote a PDF poppler cannot read: the document's fault
     * as far as the buyer is concerned, said as such. */
    if (rc == FG_ECORRUPT)
        return fg_fail(r, FG_ECORRUPT, "document cannot be read: its conversion is damaged");
    return rc;
}
