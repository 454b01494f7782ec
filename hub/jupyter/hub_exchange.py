"""nbgrader's exchange with submissions that only their student and the instructor can read.

nbgrader's default exchange makes each submission in ``inbound/`` world-readable (files 0644, folder
0777) and relies on the inbound folder being unlistable and on a random part in the submission's name.
On a shared hub a name can leak (a shell history, a screenshot, a log), so here a submission is closed
to other students as well: the inbound folder is set-group-id (nbgrader makes it so), so what a student
creates in it belongs to the instructor's group; the submission's folders become 0770 and its files 0640
-- the student and the instructor's group only.  ``nbgrader collect`` reads it through that group.

The copy must *create* every file inside the set-group-id folder: ``shutil.copytree`` (nbgrader's copy)
ends with a chmod of the new folder, which drops the set-group-id bit when a student does it (they are
not in the instructor's group), and the files nbgrader writes after it would then be the student's group.
"""

import os
import shutil

from nbgrader.exchange.default.submit import ExchangeSubmit
from nbgrader.utils import ignore_patterns

DIR_MODE = 0o770
FILE_MODE = 0o640


class PrivateSubmit(ExchangeSubmit):

    def do_copy(self, src, dest, log=None):
        """nbgrader's copy (the same ignore rules and size limits), without changing any folder's mode."""
        if self.get_size(src) > 1000 * self.coursedir.max_dir_size:
            self.log.error("Directory size is too big")
            raise RuntimeError(f"Directory size is too big. Size is {self.get_size(src)}, "
                               f"maximum size is {1000 * self.coursedir.max_dir_size}")
        ignore = ignore_patterns(exclude=self.coursedir.ignore, include=self.coursedir.include,
                                 max_file_size=self.coursedir.max_file_size, log=self.log)

        def copy(source, target):
            os.mkdir(target)  # inherits the group (and the set-group-id bit) of a set-group-id parent
            names = os.listdir(source)
            skipped = set(ignore(source, names))
            for name in names:
                if name in skipped:
                    continue
                if os.path.isdir(os.path.join(source, name)):
                    copy(os.path.join(source, name), os.path.join(target, name))
                else:
                    shutil.copyfile(os.path.join(source, name), os.path.join(target, name))

        copy(src, dest)

    def copy_files(self):
        super().copy_files()
        path = os.path.join(self.inbound_path, self.assignment_filename)
        for folder, dirs, files in os.walk(path):
            for name in files:
                os.chmod(os.path.join(folder, name), FILE_MODE)
            for name in dirs:
                os.chmod(os.path.join(folder, name), DIR_MODE)
        os.chmod(path, DIR_MODE)
