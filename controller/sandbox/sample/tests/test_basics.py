import unittest

from textkit.clamp import clamp
from textkit.counting import word_count
from textkit.duration import format_duration
from textkit.roman import to_roman
from textkit.slug import slugify
from textkit.stats import median


class BasicsTest(unittest.TestCase):
    def test_slugify_simple_title(self):
        self.assertEqual(slugify("Hello World"), "hello-world")

    def test_word_count_simple_sentence(self):
        self.assertEqual(word_count("one two three"), 3)

    def test_median_odd_length(self):
        self.assertEqual(median([3, 1, 2]), 2)

    def test_clamp_below_and_inside(self):
        self.assertEqual(clamp(-5, 0, 10), 0)
        self.assertEqual(clamp(5, 0, 10), 5)

    def test_format_duration_minutes(self):
        self.assertEqual(format_duration(125), "2m 5s")

    def test_to_roman_additive(self):
        self.assertEqual(to_roman(8), "VIII")


if __name__ == "__main__":
    unittest.main()
