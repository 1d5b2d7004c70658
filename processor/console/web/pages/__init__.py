"""One module a page (or a page and its forms); each exports ``routes``."""
