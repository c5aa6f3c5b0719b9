"""WebShop (text mode): pages, search, reward, page scores, embedded catalog and real-data loader."""
